// Identity modes: root inside a container without root on the host, for `berth exec|shell|run
// --fakeroot`, srun's --container-remap-root and (later) the RUN steps of `berth build`.
//
// | caller                       | user namespace map                   | ownership            |
// |------------------------------|--------------------------------------|----------------------|
// | root                         | none (identity)                      | exact                |
// | user with subordinate ids    | 0 -> user, 1..65536 -> user's range  | exact; ids past the  |
// | (/etc/subuid, /etc/subgid)   | (newuidmap/newgidmap write it)       | range fail           |
// | user without                 | 0 -> user only                       | faked (seccomp): all |
// |                              |                                      | files are root's     |
//
// Root inside maps only to ids the user owns on the host: the user gains nothing through it
// that the user could not do there. Keep in sync with docs/security.md ("Root in a container").
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"
#include "shared/sys/identity.hpp"
#include "shared/sys/subordinate_ids.hpp"
#include "shared/sys/user_namespace.hpp"

namespace berth::container {

// What the user (or the site's default, berth.conf build_userns) asks for.
enum class UsernsChoice {
  kAuto,    // the best the host allows: subuid when the user has ranges, else single
  kSubuid,  // the user's subordinate ids; an error without them
  kSingle,  // one id, ownership calls faked
};

[[nodiscard]] Result<UsernsChoice> parseUsernsChoice(std::string_view text);
std::string_view usernsChoiceName(UsernsChoice choice);

enum class RootMode {
  kIdentity,  // the user is root: no user namespace, root is root
  kSubuid,    // 0 -> the user, 1..N -> the user's subordinate range (N = its size, 65536 at most)
  kSingle,    // 0 -> the user only; a seccomp filter fakes chown, set*id, setgroups, capset, mknod
};

std::string_view rootModeName(RootMode mode);

// The facts a choice depends on.
struct RootHostFacts {
  sys::Identity user;  // whose container: root inside maps to this user's ids
  std::vector<sys::SubordinateRange> subuids;
  std::vector<sys::SubordinateRange> subgids;
  // The process writing the maps is root (slurmstepd, `berth exec --as-user`): it writes any
  // map itself. Otherwise the subuid mode needs newuidmap/newgidmap.
  bool writerIsRoot = false;
  bool mapHelpersInstalled = false;
};

struct RootMapping {
  RootMode mode = RootMode::kIdentity;
  sys::IdMaps maps;  // kSubuid, kSingle: the user namespace's maps
  bool operator==(const RootMapping&) const = default;
};

// The ids a subuid map gives besides root (1..65536), as Docker, podman and Apptainer map.
inline constexpr uint32_t kMaxSubordinateIds = 65536;

// Picks the mode and its maps. Errors name what is missing for an explicit choice
// ("user `x` has no subordinate ids in /etc/subuid").
[[nodiscard]] Result<RootMapping> chooseRootMapping(UsernsChoice choice,
                                                    const RootHostFacts& facts);

// The facts of this host for `user`: /etc/subuid and /etc/subgid (or the given files), whether
// the helpers are installed; `writerIsRoot` as the caller says.
[[nodiscard]] Result<RootHostFacts> readRootHostFacts(
    const sys::Identity& user, bool writerIsRoot,
    const std::filesystem::path& subuidFile = sys::kSubuidFile,
    const std::filesystem::path& subgidFile = sys::kSubgidFile);

// Root as the container sees it in a remapped mode (uid and gid 0, no supplementary groups).
sys::Identity rootIdentity();

// The apt setting the single mode provides in the container's scaffold: apt drops to its
// `_apt` user for downloads and checks that it did, which a faked setresuid cannot pass.
inline constexpr std::string_view kAptSandboxFile = "/etc/apt/apt.conf.d/00berth-sandbox";
inline constexpr std::string_view kAptSandboxSetting =
    "// berth single identity mode: setresuid is faked, so apt must not switch to _apt.\n"
    "APT::Sandbox::User \"root\";\n";

// What the single mode cannot map but package managers change in place: entries of Debian-like
// images that belong to other ids (they look like nobody's inside, and the overlay cannot copy
// them up). The scaffold holds root-owned copies of those the image has, so that root inside
// may change them. (Elsewhere such entries stay read-only; the subuid mode maps them all.)
inline constexpr std::string_view kSingleModeRootCopies[] = {
    "/etc/shadow",
    "/etc/shadow-",  // useradd, passwd (group shadow)
    "/etc/gshadow",
    "/etc/gshadow-",
    "/var/log/lastlog",                 // useradd resets the new user's entry (group utmp)
    "/var/cache/apt/archives/partial",  // apt's downloads (user _apt)
    "/var/lib/apt/lists/partial",
    "/var/mail",  // mail spools (group mail)
};

}  // namespace berth::container
