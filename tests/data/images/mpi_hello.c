/* MPI hello for the debian-mpi test image (placeholder copy until tests/data/mpi_hello.c is
 * merged; scripts/test-images prefers that file when it exists).
 * Each rank prints one line: rank, size, host name, the Allreduce sum of all ranks (must be
 * size*(size-1)/2) and PRETTY_NAME of /etc/os-release (tells host from container). */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void prettyName(char* out, size_t len) {
  snprintf(out, len, "unknown");
  FILE* f = fopen("/etc/os-release", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "PRETTY_NAME=", 12) == 0) {
      char* value = line + 12;
      value[strcspn(value, "\n")] = '\0';
      size_t n = strlen(value);
      if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
        value[n - 1] = '\0';
        value++;
      }
      snprintf(out, len, "%.200s", value);
      break;
    }
  }
  fclose(f);
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
  char pretty[256];
  prettyName(pretty, sizeof pretty);
  printf("rank %d of %d on %s: allreduce sum %d (expected %d), os %s\n", rank, size, host, sum,
         size * (size - 1) / 2, pretty);
  fflush(stdout);
  MPI_Finalize();
  return sum == size * (size - 1) / 2 ? 0 : 1;
}
