// Where a GPU sits in the machine (hwloc's PCI discovery): its NUMA node(s) and nearby CPUs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::gpu {

struct HwlocLibrary;

struct PciLocality {
  bool found = false;     // hwloc knows the PCI device
  std::string numaNodes;  // "0" or "0-1" (hwloc list syntax), empty when unknown
  std::string cpus;       // "0-31,64-95"
  std::string name;       // hwloc's PCI name ("NVIDIA Corporation GH100 [H200 SXM 141GB]") if any
};

// One hwloc topology with PCI devices, loaded once (tens of milliseconds) and queried per GPU.
// hwloc itself is opened on first use (hwloc_library.hpp): load() fails if it cannot be.
class Topology {
 public:
  static Result<Topology> load();
  Topology(Topology&& other) noexcept;
  Topology& operator=(Topology&&) = delete;
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;
  ~Topology();

  // `busId`: "0000:3b:00.0" (the driver's form; an 8-digit domain is accepted too).
  PciLocality locate(std::string_view busId) const;
  // Every PCI device hwloc sees, as "dddd:bb:dd.f".
  std::vector<std::string> pciBusIds() const;

 private:
  Topology(const HwlocLibrary* library, void* topology) : lib_(library), topology_(topology) {}
  const HwlocLibrary* lib_;
  void* topology_;  // hwloc_topology_t, kept out of the header
};

}  // namespace berth::gpu
