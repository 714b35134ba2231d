/* MPI hello for the test bed: one line per rank with the rank, the world size, the node's host
 * name (its UTS name), the sum of all ranks from MPI_Allreduce and the PRETTY_NAME of
 * /etc/os-release (container tests check which OS the rank saw). Example:
 *   mpi_hello rank=1 size=4 host=node1 allreduce=6 os="Debian GNU/Linux 12 (bookworm)"
 */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void prettyName(char* out, size_t size) {
  snprintf(out, size, "unknown");
  FILE* file = fopen("/etc/os-release", "r");
  if (file == NULL)
    return;
  char line[512];
  while (fgets(line, sizeof line, file) != NULL) {
    if (strncmp(line, "PRETTY_NAME=", 12) != 0)
      continue;
    char* value = line + 12;
    value[strcspn(value, "\r\n")] = '\0';
    size_t len = strlen(value);
    if (len >= 2 && (value[0] == '"' || value[0] == '\'') && value[len - 1] == value[0]) {
      value[len - 1] = '\0';
      ++value;
    }
    snprintf(out, size, "%s", value);
    break;
  }
  fclose(file);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  char host[256] = "";
  gethostname(host, sizeof host - 1);
  int sum = 0;
  MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  char os[512];
  prettyName(os, sizeof os);

  printf("mpi_hello rank=%d size=%d host=%s allreduce=%d os=\"%s\"\n", rank, size, host, sum, os);
  fflush(stdout);
  MPI_Finalize();
  return 0;
}
