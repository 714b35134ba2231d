// vector_add: the real-GPU check's CUDA program (bench/gpu/real_gpu_check.sh). Prints what the
// CUDA runtime sees (device name, driver and runtime versions), adds two vectors on the GPU and
// checks every element on the CPU. Exit 0 only when the kernel's result is right.
// Built with static cudart: `nvcc -cudart static`, so the image needs no CUDA toolkit.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <cuda_runtime.h>

#define CHECK_CUDA(call)                                                                  \
  do {                                                                                    \
    cudaError_t err_ = (call);                                                            \
    if (err_ != cudaSuccess) {                                                            \
      std::fprintf(stderr, "vector_add: %s: %s\n", #call, cudaGetErrorString(err_));    \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

__global__ void add(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    c[i] = a[i] + b[i];
}

int main() {
  int driver = 0, runtime = 0, count = 0;
  CHECK_CUDA(cudaDriverGetVersion(&driver));
  CHECK_CUDA(cudaRuntimeGetVersion(&runtime));
  CHECK_CUDA(cudaGetDeviceCount(&count));
  std::printf("vector_add: driver CUDA %d.%d, runtime CUDA %d.%d, %d device(s)\n", driver / 1000,
              (driver % 1000) / 10, runtime / 1000, (runtime % 1000) / 10, count);
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop;
    CHECK_CUDA(cudaGetDeviceProperties(&prop, d));
    std::printf("vector_add: device %d: %s (sm_%d%d, %.1f GiB, PCI %04x:%02x:%02x.0)\n", d,
                prop.name, prop.major, prop.minor, prop.totalGlobalMem / 1073741824.0,
                prop.pciDomainID, prop.pciBusID, prop.pciDeviceID);
  }

  const int n = 1 << 22;
  std::vector<float> a(n), b(n), c(n);
  for (int i = 0; i < n; ++i) {
    a[i] = static_cast<float>(i);
    b[i] = 2.0f * static_cast<float>(i);
  }
  float *da, *db, *dc;
  CHECK_CUDA(cudaMalloc(&da, n * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&db, n * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&dc, n * sizeof(float)));
  CHECK_CUDA(cudaMemcpy(da, a.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(db, b.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  add<<<(n + 255) / 256, 256>>>(da, db, dc, n);
  CHECK_CUDA(cudaGetLastError());
  CHECK_CUDA(cudaMemcpy(c.data(), dc, n * sizeof(float), cudaMemcpyDeviceToHost));
  int wrong = 0;
  for (int i = 0; i < n; ++i) {
    if (c[i] != 3.0f * static_cast<float>(i))
      ++wrong;
  }
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  if (wrong != 0) {
    std::printf("vector_add: FAILED: %d of %d elements wrong\n", wrong, n);
    return 1;
  }
  std::printf("vector_add: OK: %d elements checked\n", n);
  return 0;
}
