/* Prints the value of one extended attribute of a file, or "none" when it has none: a static
 * program the unprivileged xattr test runs inside a busybox image (which has no getfattr). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

int main(int argc, char** argv) {
  char value[256];
  ssize_t n;
  if (argc != 3) {
    fprintf(stderr, "usage: xattr_probe FILE NAME\n");
    return 2;
  }
  n = getxattr(argv[1], argv[2], value, sizeof value - 1);
  if (n < 0) {
    if (errno == ENODATA || errno == ENOTSUP) {
      puts("none");
      return 0;
    }
    perror("getxattr");
    return 1;
  }
  value[n] = '\0';
  puts(value);
  return 0;
}
