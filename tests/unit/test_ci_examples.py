"""docs/ci: the example CI definitions parse, and every command they call exists and takes the
options they give it (kernel-lab's own parser, the Makefile's targets)."""

import os
import re
import shlex

import pytest
import yaml
from harness.cli import build_parser
from harness.orchestrate.cells import parse_shard

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CI = os.path.join(ROOT, "docs", "ci")
#: what the CI systems put in their variables, for the commands to be parsed
VARIABLES = {"${{ matrix.shard }}": "3", "${{ github.run_id }}": "123", "$SHARDS": "4",
             "$CI_NODE_INDEX": "3", "$CI_NODE_TOTAL": "4", "$CI_PIPELINE_ID": "9",
             "$KERNELS": "running,debian:bookworm"}


def load(name):
    with open(os.path.join(CI, name)) as f:
        return yaml.safe_load(f)


def make_targets() -> set[str]:
    with open(os.path.join(ROOT, "Makefile")) as f:
        return set(re.findall(r"^([a-z][a-z-]*):", f.read(), re.M))


def commands(lines: list[str]) -> list[list[str]]:
    out = []
    for line in lines:
        for name, value in VARIABLES.items():
            line = line.replace(name, value)
        for part in re.split(r"\|\||&&|;", line.replace("\n", " ")):
            words = shlex.split(part)
            if words and words[0] == "sudo":
                words = words[1:]
            if words and words[0] not in ("true", "echo"):
                out.append(words)
    return out


def check(command: list[str], targets: set[str]) -> str:
    """The command's name, once it has been checked to exist with the options given."""
    if command[0] == "make":
        assert set(command[1:]) <= targets, command
        return "make"
    assert command[0] == ".venv/bin/kernel-lab", command
    args = build_parser().parse_args(command[1:])  # SystemExit on an unknown option
    if getattr(args, "shard", None):
        parse_shard(args.shard)
    return f"kernel-lab {args.cmd}"


def github_runs(workflow) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job["steps"]
            if "run" in step]


def gitlab_scripts(pipeline) -> list[str]:
    return [line for job in pipeline.values() if isinstance(job, dict) and "stage" in job
            for key in ("before_script", "script", "after_script") for line in job.get(key, [])]


@pytest.mark.parametrize("name, lines_of", [("github-actions.yml", github_runs),
                                            ("gitlab-ci.yml", gitlab_scripts)])
def test_every_command_exists_and_takes_its_options(name, lines_of):
    called = {check(c, make_targets()) for c in commands(lines_of(load(name)))}
    assert {"make", "kernel-lab nightly", "kernel-lab merge", "kernel-lab export"} <= called


def test_the_github_matrix_has_one_job_per_shard():
    workflow = load("github-actions.yml")
    shards = int(workflow["env"]["SHARDS"])
    assert workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"] == list(range(1, shards + 1))
    assert workflow["jobs"]["merge"]["needs"] == "shard"
    assert workflow["jobs"]["merge"]["if"] == "always()"  # a failed shard still gets a verdict


def test_the_gitlab_shards_use_the_node_index():
    pipeline = load("gitlab-ci.yml")
    assert pipeline["shard"]["parallel"] >= 2
    assert any("$CI_NODE_INDEX/$CI_NODE_TOTAL" in line for line in pipeline["shard"]["script"])
    assert pipeline["merge"]["when"] == "always"
