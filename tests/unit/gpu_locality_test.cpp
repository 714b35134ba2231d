#include <doctest/doctest.h>

#include "shared/gpu/locality.hpp"
#include "tests/unit/gpu_fake_driver.hpp"

using namespace berth::gpu;

TEST_CASE("hwloc locality: PCI devices of this machine are placed, unknown ones are not") {
  auto topology = Topology::load();
  REQUIRE_MESSAGE(topology.ok(), testing::errorOf(topology));
  CHECK_FALSE(topology->locate("0000:ff:1f.7").found);
  CHECK_FALSE(topology->locate("not a bus id").found);
  auto ids = topology->pciBusIds();
  if (ids.empty())
    return;  // a machine (container) where hwloc sees no PCI bus
  PciLocality locality = topology->locate(ids.front());
  CHECK(locality.found);
  CHECK_FALSE(locality.cpus.empty());
  CHECK_FALSE(locality.numaNodes.empty());
}
