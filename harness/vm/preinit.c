/*
 * kernel-lab's first process in a guest (PID 1): it does the one thing the labs need from
 * udev, hides udev and systemd-tmpfiles, then becomes virtme-ng-init (the path in
 * $kernel_lab_init).
 *
 * virtme-ng-init starts systemd-udevd whenever it finds /usr/lib/systemd/systemd-udevd and
 * waits for the coldplug of every emulated device to settle: seconds of a boot under software
 * emulation, for hardware the labs never use (device nodes come from devtmpfs, kernel modules
 * from modprobe).  What the guest does need from udev is the /dev/virtio-ports/<name> links
 * that carry the command's input, output and exit code; they are made here.  Before that it
 * runs systemd-tmpfiles --boot (1.2 s), whose entries (/run/lock, journal folders, nologin,
 * ...) the labs do not use either.  The writable overlay virtme-ng-init would mount over /usr
 * (virtme_rw_overlayN=/usr) is mounted first, here, with both programs removed from it, so
 * virtme-ng-init logs that it cannot run them and goes on.  Whatever fails here is logged and
 * left to virtme-ng-init as it was: the guest then boots with them.
 *
 * A static C program because under emulation each program loaded from the 9p root costs a
 * tenth of a second or more; a shell script doing the same took over a second.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define UPPER "/run/kernel-lab-usr/upper"
#define WORK "/run/kernel-lab-usr/work"

static int failed(const char *what, const char *path)
{
	dprintf(2, "kernel-lab preinit: %s %s: %s\n", what, path, strerror(errno));
	return -1;
}

static void link_port(const char *port)
{
	char path[512], name[256], link[512], target[300];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", port);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	n = read(fd, name, sizeof(name) - 1);
	close(fd);
	if (n <= 0)
		return;
	name[n] = '\0';
	name[strcspn(name, "\n")] = '\0';
	if (!name[0] || strchr(name, '/'))
		return;
	snprintf(link, sizeof(link), "/dev/virtio-ports/%s", name);
	snprintf(target, sizeof(target), "../%s", port);
	unlink(link);
	if (symlink(target, link))
		failed("symlink", link);
}

static void link_virtio_ports(void)
{
	struct dirent *e;
	DIR *dir;
	int mounted;

	if (mount("sysfs", "/sys", "sysfs", 0, NULL)) {
		failed("mount", "/sys");
		return;
	}
	/*
	 * devtmpfs has one instance: the links stay when virtme-ng-init mounts it again.  A
	 * kernel with CONFIG_DEVTMPFS_MOUNT=y (virtme-ng's own config, so every tree built from
	 * kernel-lab's fragment) has mounted it on /dev already: EBUSY, and the links go there.
	 */
	mounted = !mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	if (!mounted && errno != EBUSY) {
		failed("mount", "/dev");
	} else {
		mkdir("/dev/virtio-ports", 0755);
		dir = opendir("/sys/class/virtio-ports");
		while (dir && (e = readdir(dir)))
			if (e->d_name[0] != '.')
				link_port(e->d_name);
		if (dir)
			closedir(dir);
		if (mounted)
			umount("/dev");
	}
	umount("/sys");
}

static const char *const hidden[] = {
	"/usr/lib/systemd/systemd-udevd",
	"/usr/bin/systemd-tmpfiles",
};

static void hide_services(void)
{
	char var[32];
	const char *dir;
	int i;

	for (i = 0; i < 64; i++) {
		snprintf(var, sizeof(var), "virtme_rw_overlay%d", i);
		dir = getenv(var);
		if (dir && !strcmp(dir, "/usr"))
			break;
	}
	if (i == 64)
		return;
	/* virtme-ng-init mounts a fresh /run later; the overlay keeps this one */
	if (mount("kernel-lab-init", "/run", "tmpfs", 0, "mode=0755"))
		return (void)failed("mount", "/run");
	if (mkdir("/run/kernel-lab-usr", 0755) || mkdir(UPPER, 0755) || mkdir(WORK, 0755))
		return (void)failed("mkdir", "/run/kernel-lab-usr");
	if (mount(var, "/usr", "overlay", 0, "lowerdir=/usr,upperdir=" UPPER ",workdir=" WORK))
		return (void)failed("mount", "/usr");
	unsetenv(var);
	for (i = 0; i < (int)(sizeof(hidden) / sizeof(hidden[0])); i++)
		if (unlink(hidden[i]) && errno != ENOENT)
			failed("unlink", hidden[i]);
}

int main(int argc, char **argv)
{
	const char *env = getenv("kernel_lab_init");
	char *next;

	(void)argc;
	if (!env || !env[0]) {
		dprintf(2, "kernel-lab preinit: kernel_lab_init is not set\n");
		return 1;
	}
	next = strdup(env);
	unsetenv("kernel_lab_init");
	link_virtio_ports();
	hide_services();
	argv[0] = next;
	execv(next, argv);
	failed("exec", next);
	return 1;
}
