#include "shared/container/identity_mode.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace berth::container {
namespace {

// --userns values, in the order the docs list them.
constexpr std::pair<std::string_view, UsernsChoice> kUsernsChoices[] = {
    {"auto", UsernsChoice::kAuto},
    {"subuid", UsernsChoice::kSubuid},
    {"single", UsernsChoice::kSingle},
};

// Root inside, then up to kMaxSubordinateIds ids of the user's first range.
std::vector<sys::IdRange> subordinateMap(uint32_t self, const sys::SubordinateRange& range) {
  return {
      {.inside = 0, .outside = self, .count = 1},
      {.inside = 1, .outside = range.start, .count = std::min(range.count, kMaxSubordinateIds)}};
}

// A range must not contain the user's own id (it is mapped to root already) nor root's.
bool usable(const sys::SubordinateRange& range, uint32_t self) {
  uint64_t end = uint64_t{range.start} + range.count;
  return range.start != 0 && !(self >= range.start && self < end);
}

std::optional<sys::SubordinateRange> firstUsable(const std::vector<sys::SubordinateRange>& ranges,
                                                 uint32_t self) {
  for (const auto& range : ranges)
    if (usable(range, self))
      return range;
  return std::nullopt;
}

}  // namespace

Result<UsernsChoice> parseUsernsChoice(std::string_view text) {
  for (const auto& [name, choice] : kUsernsChoices)
    if (text == name)
      return choice;
  return Error(fmt::format("user namespace mode `{}`: expected auto, subuid or single", text));
}

std::string_view usernsChoiceName(UsernsChoice choice) {
  for (const auto& [name, value] : kUsernsChoices)
    if (value == choice)
      return name;
  return "auto";
}

std::string_view rootModeName(RootMode mode) {
  switch (mode) {
    case RootMode::kIdentity:
      return "root";
    case RootMode::kSubuid:
      return "subuid";
    case RootMode::kSingle:
      return "single";
  }
  return "?";
}

Result<RootMapping> chooseRootMapping(UsernsChoice choice, const RootHostFacts& facts) {
  RootMapping mapping;
  const sys::Identity& user = facts.user;
  if (user.uid == 0)
    return mapping;  // root is root: nothing to map
  if (choice != UsernsChoice::kSingle) {
    auto uids = firstUsable(facts.subuids, user.uid);
    auto gids = firstUsable(facts.subgids, user.gid);
    std::string missing;
    if (!uids || !gids)
      missing = fmt::format("user `{}` has no subordinate {} ({})", user.name,
                            !uids ? "uids" : "gids", !uids ? sys::kSubuidFile : sys::kSubgidFile);
    else if (!facts.writerIsRoot && !facts.mapHelpersInstalled)
      missing = "newuidmap and newgidmap are not installed (package uidmap)";
    if (missing.empty()) {
      mapping.mode = RootMode::kSubuid;
      mapping.maps.uids = subordinateMap(user.uid, *uids);
      mapping.maps.gids = subordinateMap(user.gid, *gids);
      return mapping;
    }
    if (choice == UsernsChoice::kSubuid)
      return Error(fmt::format("user namespace mode subuid: {}", missing));
  }
  mapping.mode = RootMode::kSingle;
  mapping.maps.uids = {{.inside = 0, .outside = user.uid, .count = 1}};
  mapping.maps.gids = {{.inside = 0, .outside = user.gid, .count = 1}};
  mapping.maps.denySetgroups = true;
  return mapping;
}

Result<RootHostFacts> readRootHostFacts(const sys::Identity& user, bool writerIsRoot,
                                        const std::filesystem::path& subuidFile,
                                        const std::filesystem::path& subgidFile) {
  RootHostFacts facts;
  facts.user = user;
  facts.writerIsRoot = writerIsRoot;
  if (user.uid == 0)
    return facts;
  BERTH_ASSIGN(facts.subuids, sys::readSubordinateIds(subuidFile, user.name, user.uid));
  // /etc/subgid names users too (shadow's convention, what newgidmap checks), not groups.
  BERTH_ASSIGN(facts.subgids, sys::readSubordinateIds(subgidFile, user.name, user.uid));
  facts.mapHelpersInstalled = writerIsRoot || sys::findMapHelpers().ok();
  return facts;
}

sys::Identity rootIdentity() {
  sys::Identity root;
  root.name = "root";
  root.groupName = "root";
  root.home = "/root";
  root.shell = "/bin/sh";
  return root;
}

}  // namespace berth::container
