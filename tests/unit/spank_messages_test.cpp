// srun users read berth's messages in their own flags' words (the library names the item).
#include <doctest/doctest.h>

#include "shared/container/mount_plan.hpp"
#include "spank_plugin/container_backend.hpp"

using namespace berth;

TEST_CASE("srun's messages name --container-mounts and --container-writable, not the CLI's") {
  container::ItemNames names = spank::srunItemNames();
  CHECK(names.bind == "--container-mounts");
  CHECK(names.workdir == "--container-workdir");
  container::PlanInputs in;
  in.image = {container::ImageKind::kSquashfs, "/images/x.sqsh"};
  in.user.name = "alice";
  in.user.uid = 1000;
  in.user.gid = 1000;
  in.options.binds = {{"/data", "/data", true}};
  in.names = names;
  auto plan = container::buildMountPlan(in);
  REQUIRE(plan.ok());
  bool found = false;
  for (const container::MountOp& op : plan->ops) {
    CHECK(op.origin.find("--bind") == std::string::npos);
    if (op.target == "/data") {
      found = true;
      CHECK(op.origin == "--container-mounts /data:/data:ro");
    }
  }
  CHECK(found);
}
