#include "shared/build/shell_lex.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace berth::build {
namespace {

constexpr std::string_view kSpecialParameters = "@*#?-$!";
// MAX_ARG_STRLEN: no longer word can reach a program (argument or environment string).
constexpr size_t kMaxWord = size_t{128} * 1024;
constexpr int kMaxNesting = 32;

bool isBlank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool isNameStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}

bool isNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

class Lexer {
 public:
  Lexer(std::string_view text, const VariableLookup& lookup, char escape,
        std::vector<std::string>* used)
      : text_(text), lookup_(lookup), escape_(escape), used_(used) {}

  // The whole text as one word; stops at `stop` (0: the end) outside quotes.
  Result<std::string> word(char stop) {
    std::string out;
    if (++depth_ > kMaxNesting)
      return Error(
          fmt::format("substitutions nested more than {} deep in `{}`", kMaxNesting, text_));
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (stop != 0 && c == stop) {
        --depth_;
        return out;
      }
      ++pos_;
      if (c == '\'') {
        BERTH_ASSIGN(std::string part, singleQuoted());
        out += part;
      } else if (c == '"') {
        BERTH_ASSIGN(std::string part, doubleQuoted());
        out += part;
      } else if (c == '$') {
        BERTH_ASSIGN(std::string part, dollar());
        out += part;
      } else if (c == escape_) {
        if (pos_ < text_.size())
          out += text_[pos_++];
      } else {
        out += c;
      }
    }
    if (stop != 0)
      return Error(fmt::format("missing `{}` in `{}`", stop, text_));
    --depth_;
    return out;
  }

  // Words split at unquoted blanks of the text and of unquoted expansions.
  Result<std::vector<std::string>> words() {
    std::vector<std::string> words;
    std::string current;
    bool inWord = false;
    auto addSplittable = [&](std::string_view part) {
      for (char c : part) {
        if (isBlank(c)) {
          if (inWord)
            words.push_back(std::move(current));
          current.clear();
          inWord = false;
        } else {
          current += c;
          inWord = true;
        }
      }
    };
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '\'' || c == '"') {
        BERTH_ASSIGN(std::string part, c == '\'' ? singleQuoted() : doubleQuoted());
        current += part;
        inWord = true;
      } else if (c == '$') {
        BERTH_ASSIGN(std::string part, dollar());
        addSplittable(part);
      } else if (c == escape_) {
        if (pos_ < text_.size()) {
          current += text_[pos_++];
          inWord = true;
        }
      } else {
        addSplittable(std::string_view(&c, 1));
      }
    }
    if (inWord)
      words.push_back(std::move(current));
    return words;
  }

 private:
  Result<std::string> singleQuoted() {
    size_t end = text_.find('\'', pos_);
    if (end == std::string_view::npos)
      return Error(fmt::format("unmatched single quote in `{}`", text_));
    std::string out(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }

  Result<std::string> doubleQuoted() {
    std::string out;
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"')
        return out;
      if (c == '$') {
        BERTH_ASSIGN(std::string part, dollar());
        out += part;
      } else if (c == escape_ && pos_ < text_.size() &&
                 (text_[pos_] == '"' || text_[pos_] == '$' || text_[pos_] == escape_)) {
        out += text_[pos_++];
      } else {
        out += c;
      }
    }
    return Error(fmt::format("unmatched double quote in `{}`", text_));
  }

  std::optional<std::string> value(const std::string& name) {
    if (used_ != nullptr)
      used_->push_back(name);
    return lookup_ ? lookup_(name) : std::nullopt;
  }

  // After a `$`; what it expands to may not grow a word past the kernel's limit.
  Result<std::string> dollar() {
    BERTH_ASSIGN(std::string value, dollarValue());
    expanded_ += value.size();
    if (expanded_ > kMaxWord)
      return Error(
          fmt::format("`{}` expands to more than {} KiB, the kernel's limit for one "
                      "argument or variable",
                      text_, kMaxWord / 1024));
    return value;
  }

  Result<std::string> dollarValue() {
    if (pos_ >= text_.size())
      return std::string("$");
    if (text_[pos_] != '{') {
      // Positional and special parameters ($1, $@, ...) are never set in a Dockerfile.
      if (std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_])))
          ++pos_;
        return std::string();
      }
      if (kSpecialParameters.find(text_[pos_]) != std::string_view::npos) {
        ++pos_;
        return std::string();
      }
      if (!isNameStart(text_[pos_]))
        return std::string("$");
      size_t start = pos_;
      while (pos_ < text_.size() && isNameChar(text_[pos_]))
        ++pos_;
      return value(std::string(text_.substr(start, pos_ - start))).value_or("");
    }
    ++pos_;
    size_t start = pos_;
    while (pos_ < text_.size() && isNameChar(text_[pos_]))
      ++pos_;
    std::string name(text_.substr(start, pos_ - start));
    if (!name.empty() &&
        std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isdigit(c); }) &&
        pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return std::string();
    }
    if (name.empty() || !isNameStart(name[0]))
      return Error(fmt::format("bad substitution in `{}`", text_));
    if (pos_ >= text_.size())
      return Error(fmt::format("missing `}}` in `{}`", text_));
    if (text_[pos_] == '}') {
      ++pos_;
      return value(name).value_or("");
    }
    bool colon = text_[pos_] == ':';
    if (colon)
      ++pos_;
    char op = pos_ < text_.size() ? text_[pos_] : '\0';
    if (op != '-' && op != '+' && op != '?')
      return Error(fmt::format("unsupported modifier `{}{}` in `{}`", colon ? ":" : "",
                               op == '\0' ? std::string() : std::string(1, op), text_));
    ++pos_;
    BERTH_ASSIGN(std::string wordValue, word('}'));
    ++pos_;  // the '}'
    std::optional<std::string> current = value(name);
    bool set = current.has_value() && (!colon || !current->empty());
    switch (op) {
      case '-':
        return set ? *current : wordValue;
      case '+':
        return set ? wordValue : std::string();
      default:
        if (!set)
          return Error(fmt::format("{}: {}", name, wordValue.empty() ? "is not set" : wordValue));
        return *current;
    }
  }

  std::string_view text_;
  const VariableLookup& lookup_;
  char escape_;
  std::vector<std::string>* used_;
  size_t pos_ = 0;
  int depth_ = 0;
  size_t expanded_ = 0;
};

}  // namespace

Result<std::string> expandWord(std::string_view word, const VariableLookup& lookup, char escape,
                               std::vector<std::string>* used) {
  return Lexer(word, lookup, escape, used).word(0);
}

Result<std::vector<std::string>> expandWords(std::string_view text, const VariableLookup& lookup,
                                             char escape, std::vector<std::string>* used) {
  return Lexer(text, lookup, escape, used).words();
}

std::vector<std::string> splitRawWords(std::string_view text, char escape) {
  std::vector<std::string> words;
  std::string current;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote == 0 && isBlank(c)) {
      if (!current.empty())
        words.push_back(std::move(current));
      current.clear();
      continue;
    }
    current += c;
    if (c == escape && quote != '\'' && i + 1 < text.size()) {
      current += text[++i];
    } else if (quote == 0 && (c == '"' || c == '\'')) {
      quote = c;
    } else if (c == quote) {
      quote = 0;
    }
  }
  if (!current.empty())
    words.push_back(std::move(current));
  return words;
}

}  // namespace berth::build
