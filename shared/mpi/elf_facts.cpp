#include "shared/mpi/elf_facts.hpp"

#include <elf.h>

#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace berth::mpi {
namespace {

// Reads a T at `offset` of `bytes`, or nothing past the end.
template <typename T>
std::optional<T> readAt(std::string_view bytes, uint64_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T))
    return std::nullopt;
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// The NUL-terminated string at `offset` of a string table section.
std::optional<std::string> stringAt(std::string_view bytes, const Elf64_Shdr& table,
                                    uint64_t offset) {
  if (offset >= table.sh_size || table.sh_offset > bytes.size() ||
      bytes.size() - table.sh_offset < table.sh_size)
    return std::nullopt;
  std::string_view section = bytes.substr(table.sh_offset, table.sh_size);
  size_t end = section.find('\0', offset);
  if (end == std::string_view::npos)
    return std::nullopt;
  return std::string(section.substr(offset, end - offset));
}

Error truncated(std::string_view what) {
  return Error(fmt::format("truncated ELF file ({})", what));
}

// The version definitions: a chain of Verdef records, each naming itself in its first Verdaux.
Status readVerdef(std::string_view bytes, const Elf64_Shdr& section, const Elf64_Shdr& strings,
                  ElfFacts& facts) {
  uint64_t offset = section.sh_offset;
  for (uint64_t count = 0; count < section.sh_info; ++count) {
    auto def = readAt<Elf64_Verdef>(bytes, offset);
    if (!def)
      return truncated("version definitions");
    auto aux = readAt<Elf64_Verdaux>(bytes, offset + def->vd_aux);
    if (!aux)
      return truncated("version definitions");
    if ((def->vd_flags & VER_FLG_BASE) == 0) {
      auto name = stringAt(bytes, strings, aux->vda_name);
      if (!name)
        return truncated("version names");
      facts.defVersions.push_back(std::move(*name));
    }
    if (def->vd_next == 0)
      break;
    offset += def->vd_next;
  }
  return okStatus();
}

// The versions needed: per needed file a Verneed record with a chain of Vernaux names.
Status readVerneed(std::string_view bytes, const Elf64_Shdr& section, const Elf64_Shdr& strings,
                   ElfFacts& facts) {
  uint64_t offset = section.sh_offset;
  for (uint64_t count = 0; count < section.sh_info; ++count) {
    auto need = readAt<Elf64_Verneed>(bytes, offset);
    if (!need)
      return truncated("version needs");
    uint64_t auxOffset = offset + need->vn_aux;
    for (unsigned i = 0; i < need->vn_cnt; ++i) {
      auto aux = readAt<Elf64_Vernaux>(bytes, auxOffset);
      if (!aux)
        return truncated("version needs");
      auto name = stringAt(bytes, strings, aux->vna_name);
      if (!name)
        return truncated("version names");
      facts.needVersions.push_back(std::move(*name));
      if (aux->vna_next == 0)
        break;
      auxOffset += aux->vna_next;
    }
    if (need->vn_next == 0)
      break;
    offset += need->vn_next;
  }
  return okStatus();
}

Status readDynamic(std::string_view bytes, const Elf64_Shdr& section, const Elf64_Shdr& strings,
                   ElfFacts& facts) {
  uint64_t entries = section.sh_size / sizeof(Elf64_Dyn);
  for (uint64_t i = 0; i < entries; ++i) {
    auto entry = readAt<Elf64_Dyn>(bytes, section.sh_offset + i * sizeof(Elf64_Dyn));
    if (!entry)
      return truncated("dynamic section");
    if (entry->d_tag == DT_NULL)
      break;
    if (entry->d_tag != DT_NEEDED && entry->d_tag != DT_SONAME)
      continue;
    auto name = stringAt(bytes, strings, entry->d_un.d_val);
    if (!name)
      return truncated("dynamic strings");
    if (entry->d_tag == DT_NEEDED)
      facts.needed.push_back(std::move(*name));
    else
      facts.soname = std::move(*name);
  }
  return okStatus();
}

}  // namespace

Result<ElfFacts> readElfFacts(std::string_view bytes) {
  auto header = readAt<Elf64_Ehdr>(bytes, 0);
  if (!header || std::memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 ||
      header->e_ident[EI_CLASS] != ELFCLASS64 || header->e_ident[EI_DATA] != ELFDATA2LSB)
    return Error("not a little-endian ELF64 file");
  if (header->e_shentsize != sizeof(Elf64_Shdr))
    return Error("ELF section headers of an unexpected size");
  std::vector<Elf64_Shdr> sections;
  for (unsigned i = 0; i < header->e_shnum; ++i) {
    auto section = readAt<Elf64_Shdr>(bytes, header->e_shoff + uint64_t{i} * sizeof(Elf64_Shdr));
    if (!section)
      return truncated("section headers");
    sections.push_back(*section);
  }
  ElfFacts facts;
  for (const Elf64_Shdr& section : sections) {
    if (section.sh_type != SHT_DYNAMIC && section.sh_type != SHT_GNU_verdef &&
        section.sh_type != SHT_GNU_verneed)
      continue;
    if (section.sh_link >= sections.size())
      return truncated("section links");
    const Elf64_Shdr& strings = sections[section.sh_link];
    if (section.sh_type == SHT_DYNAMIC)
      BERTH_TRY(readDynamic(bytes, section, strings, facts));
    else if (section.sh_type == SHT_GNU_verdef)
      BERTH_TRY(readVerdef(bytes, section, strings, facts));
    else
      BERTH_TRY(readVerneed(bytes, section, strings, facts));
  }
  return facts;
}

std::string GlibcVersion::text() const {
  return fmt::format("{}.{}", major, minor);
}

std::optional<GlibcVersion> parseGlibcVersionName(std::string_view name) {
  constexpr std::string_view kPrefix = "GLIBC_";
  if (!name.starts_with(kPrefix))
    return std::nullopt;
  name.remove_prefix(kPrefix.size());
  GlibcVersion version;
  auto [dot, ec] = std::from_chars(name.data(), name.data() + name.size(), version.major);
  if (ec != std::errc() || dot == name.data() + name.size() || *dot != '.')
    return std::nullopt;
  auto [end, ec2] = std::from_chars(dot + 1, name.data() + name.size(), version.minor);
  if (ec2 != std::errc() || (end != name.data() + name.size() && *end != '.'))
    return std::nullopt;
  return version;
}

std::optional<GlibcVersion> highestGlibc(const std::vector<std::string>& names) {
  std::optional<GlibcVersion> highest;
  for (const std::string& name : names) {
    auto version = parseGlibcVersionName(name);
    if (version && (!highest || *version > *highest))
      highest = version;
  }
  return highest;
}

}  // namespace berth::mpi
