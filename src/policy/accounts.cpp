// Users, aliases(5) and relocated users: parsing the three files and answering
// who an address is.

#include "policy/accounts.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>
#include <unordered_set>

namespace posthorn::policy {

namespace {

// Deeper alias nesting than this is treated like a loop (Postfix's local(8) has a
// similar bound); no sane alias file comes near it.
constexpr unsigned k_max_alias_depth = 20;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Calls f(line_number, line) for each line, CR LF or LF ended.
template <class F>
void for_each_line(std::string_view text, F&& f) {
  std::size_t number = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.ends_with('\r')) {
      line.remove_suffix(1);
    }
    if (!f(++number, line)) {
      return;
    }
  }
}

bool is_comment_or_blank(std::string_view line) {
  const std::string_view t = trim(line);
  return t.empty() || t.front() == '#';
}

// The first position of a character matching `pred` outside a quoted string.
template <class Pred>
std::size_t find_unquoted(std::string_view s, Pred pred) {
  bool quoted = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (pred(c)) {
      return i;
    }
  }
  return std::string_view::npos;
}

std::size_t find_unquoted(std::string_view s, char wanted) {
  return find_unquoted(s, [wanted](char c) { return c == wanted; });
}

config::config_error error_at(const std::string& file, std::size_t line, std::string message) {
  return config::config_error{file, line, "", std::move(message)};
}

// A full address ("local@domain") or, when `allow_bare`, a bare local part (domain "").
std::optional<mail::address> parse_name(std::string_view text, bool allow_bare) {
  if (find_unquoted(text, '@') != std::string_view::npos || text.starts_with('<')) {
    auto a = mail::parse_address(text, true);
    if (!a || a->domain.empty()) {
      return std::nullopt;
    }
    return a;
  }
  if (!allow_bare) {
    return std::nullopt;
  }
  auto local = mail::parse_local_part(text);
  if (!local) {
    return std::nullopt;
  }
  return mail::address{std::move(*local), ""};
}

// aliases(5) targets we never act on: commands, files and included lists.
bool is_forbidden_target(std::string_view t) {
  if (t.starts_with('|') || t.starts_with('/') || mail::ascii_lower(t).starts_with(":include:")) {
    return true;
  }
  // A quoted "|command" or "/file" means the same to sendmail and Postfix.
  if (t.starts_with('"')) {
    const auto local = mail::parse_local_part(t);
    return local && (local->starts_with('|') || local->starts_with('/'));
  }
  return false;
}

std::string name_key(const mail::address& name) {
  return name.domain.empty() ? mail::ascii_lower(name.local) + "@" : mail::address_key(name);
}

// Reads a whole file. A missing file is "" when `missing_ok`; anything else is an error.
std::expected<std::string, config::config_error> read_file(const std::filesystem::path& path,
                                                           bool missing_ok,
                                                           const std::string& key) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    if (missing_ok) {
      return std::string();
    }
    return std::unexpected(config::config_error{path.string(), 0, key, "no such file"});
  }
  if (status.type() == std::filesystem::file_type::directory) {
    return std::unexpected(config::config_error{path.string(), 0, key, "is a directory"});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::unexpected(config::config_error{
        path.string(), 0, key, std::string("cannot open: ") + std::strerror(errno)});
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return std::unexpected(config::config_error{path.string(), 0, key, "read error"});
  }
  return text;
}

std::filesystem::path absolute_normal(const std::filesystem::path& p) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(p, ec);
  return (ec ? p : abs).lexically_normal();
}

}  // namespace

struct accounts::expand_state {
  std::vector<std::string> stack;        // keys of the aliases being expanded, outermost first
  std::unordered_set<std::string> done;  // aliases already expanded completely
  std::unordered_set<std::string> seen;  // targets already added
  expansion out;
};

std::expected<std::shared_ptr<const accounts>, config::config_error> accounts::from_text(
    std::vector<std::string> local_domains, std::string_view users, std::string_view aliases,
    std::string_view relocated, std::string recipient_delimiter,
    const std::vector<std::string>& relay_domains) {
  auto a = std::make_shared<accounts>();
  a->relay_ = policy::relay_domains(relay_domains);
  for (const auto& d : local_domains) {
    std::string n = mail::normalize_domain(d);
    if (std::find(a->domains_.begin(), a->domains_.end(), n) == a->domains_.end()) {
      a->domains_.push_back(std::move(n));
    }
  }
  a->delimiter_ = std::move(recipient_delimiter);
  if (auto e = a->parse_users(users, "users")) {
    return std::unexpected(std::move(*e));
  }
  if (auto e = a->parse_aliases(aliases, "aliases")) {
    return std::unexpected(std::move(*e));
  }
  if (auto e = a->parse_relocated(relocated, "relocated")) {
    return std::unexpected(std::move(*e));
  }
  return a;
}

std::expected<std::shared_ptr<const accounts>, config::config_error> accounts::load(
    const config::config& cfg) {
  const config::accounts_config defaults;
  const auto base = cfg.source.empty() ? std::filesystem::path() : cfg.source.parent_path();
  // The default names may be absent (a fresh install has no aliases); a file the
  // operator named explicitly must exist.
  const auto is_default = [&](const std::filesystem::path& p, const std::filesystem::path& d) {
    return !d.empty() && absolute_normal(p) == absolute_normal(base / d);
  };
  struct source {
    const std::filesystem::path& path;
    const std::filesystem::path& default_path;
    const char* key;
  };
  const source sources[] = {
      {cfg.accounts.users_file, defaults.users_file, "accounts.users_file"},
      {cfg.accounts.aliases_file, defaults.aliases_file, "accounts.aliases_file"},
      {cfg.accounts.relocated_file, defaults.relocated_file, "accounts.relocated_file"},
  };
  std::string texts[3];
  for (std::size_t i = 0; i < 3; ++i) {
    const source& s = sources[i];
    if (s.path.empty()) {
      continue;
    }
    auto text = read_file(s.path, is_default(s.path, s.default_path), s.key);
    if (!text) {
      return std::unexpected(std::move(text.error()));
    }
    texts[i] = std::move(*text);
  }

  auto a = std::make_shared<accounts>();
  for (const auto& d : cfg.domains.local) {
    std::string n = mail::normalize_domain(d);
    if (std::find(a->domains_.begin(), a->domains_.end(), n) == a->domains_.end()) {
      a->domains_.push_back(std::move(n));
    }
  }
  a->relay_ = relay_domains(cfg.domains.relay);
  a->delimiter_ = cfg.accounts.recipient_delimiter;
  if (auto e = a->parse_users(texts[0], cfg.accounts.users_file.string())) {
    return std::unexpected(std::move(*e));
  }
  if (auto e = a->parse_aliases(texts[1], cfg.accounts.aliases_file.string())) {
    return std::unexpected(std::move(*e));
  }
  if (auto e = a->parse_relocated(texts[2], cfg.accounts.relocated_file.string())) {
    return std::unexpected(std::move(*e));
  }
  return a;
}

// Lines "address:hash". Fields after a second colon (Dovecot passwd-file's uid, gid,
// home...) are ignored so such a file can be shared.
std::optional<config::config_error> accounts::parse_users(std::string_view text,
                                                          const std::string& file) {
  std::optional<config::config_error> err;
  for_each_line(text, [&](std::size_t n, std::string_view line) {
    if (is_comment_or_blank(line)) {
      return true;
    }
    const std::string_view t = trim(line);
    const std::size_t colon = find_unquoted(t, ':');
    if (colon == std::string_view::npos) {
      err = error_at(file, n, "expected \"address:hash\"");
      return false;
    }
    const std::string_view addr_text = trim(t.substr(0, colon));
    const auto addr = mail::parse_address(addr_text, false);
    if (!addr || addr->domain.empty()) {
      err = error_at(file, n, "not an address: \"" + std::string(addr_text) + "\"");
      return false;
    }
    std::string_view rest = t.substr(colon + 1);
    const std::size_t hash_end = rest.find(':');
    const std::string_view hash = trim(rest.substr(0, hash_end));
    // Fields after the hash: "scram-sha-256=..." is ours; others (Dovecot's uid, gid,
    // ...) are left alone.
    std::optional<auth::scram_secrets> scram;
    rest = hash_end == std::string_view::npos ? std::string_view() : rest.substr(hash_end);
    while (!rest.empty()) {
      rest.remove_prefix(1);
      const std::size_t end = rest.find(':');
      const std::string_view field = trim(rest.substr(0, end));
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
      const std::size_t name_len = auth::k_scram_field.size();
      if (field.size() > name_len && field[name_len] == '=' &&
          mail::ascii_lower(field.substr(0, name_len)) == auth::k_scram_field) {
        scram = auth::scram_parse(field.substr(name_len + 1));
        if (!scram) {
          err = error_at(file, n,
                         "bad scram-sha-256 field (want <iterations of at least 4096>,<salt>,"
                         "<StoredKey>,<ServerKey> in base64)");
          return false;
        }
      }
    }
    const std::string key = mail::address_key(*addr);
    if (user_index_.contains(key)) {
      err = error_at(file, n, "duplicate user " + addr->str());
      return false;
    }
    user_index_.emplace(key, users_.size());
    users_.push_back(user{*addr, std::string(hash), std::move(scram)});
    return true;
  });
  return err;
}

// aliases(5): "name: target, target", continued on lines starting with a blank.
std::optional<config::config_error> accounts::parse_aliases(std::string_view text,
                                                            const std::string& file) {
  // One logical entry, with the physical line each part started on, so that an error
  // in a continuation line names that line.
  struct piece {
    std::size_t offset;
    std::size_t line;
  };
  struct entry {
    std::string text;
    std::vector<piece> pieces;
  };
  std::vector<entry> entries;
  std::optional<config::config_error> err;
  for_each_line(text, [&](std::size_t n, std::string_view line) {
    if (is_comment_or_blank(line)) {
      return true;
    }
    if (is_blank(line.front())) {
      if (entries.empty()) {
        err = error_at(file, n, "continuation line without an alias before it");
        return false;
      }
      entry& e = entries.back();
      e.text.push_back(' ');
      e.pieces.push_back(piece{e.text.size(), n});
      e.text += trim(line);
      return true;
    }
    entries.push_back(entry{std::string(trim(line)), {piece{0, n}}});
    return true;
  });
  if (err) {
    return err;
  }

  for (const entry& e : entries) {
    const auto line_of = [&e](std::size_t offset) {
      std::size_t line = e.pieces.front().line;
      for (const piece& p : e.pieces) {
        if (p.offset <= offset) {
          line = p.line;
        }
      }
      return line;
    };
    const std::size_t first_line = e.pieces.front().line;
    const std::string_view t = e.text;
    const std::size_t colon = find_unquoted(t, ':');
    if (colon == std::string_view::npos) {
      return error_at(file, first_line, "expected \"name: target, target, ...\"");
    }
    const std::string_view name_text = trim(t.substr(0, colon));
    auto name = parse_name(name_text, true);
    if (!name) {
      return error_at(file, first_line,
                      "not a local part or address: \"" + std::string(name_text) + "\"");
    }
    const std::string key = name_key(*name);
    if (const auto it = aliases_.find(key); it != aliases_.end()) {
      return error_at(file, first_line,
                      "duplicate alias \"" + std::string(name_text) + "\" (first on line " +
                          std::to_string(it->second.line) + ")");
    }

    alias_entry alias{std::move(*name), {}, first_line};
    std::size_t start = colon + 1;
    for (;;) {
      const std::string_view rest = t.substr(start);
      const std::size_t comma = find_unquoted(rest, ',');
      const std::string_view raw = rest.substr(0, comma);
      const std::string_view target = trim(raw);
      const std::size_t lead = raw.find_first_not_of(" \t");
      const std::size_t target_line = line_of(start + (lead == std::string_view::npos ? 0 : lead));
      if (!target.empty()) {
        if (is_forbidden_target(target)) {
          return error_at(file, target_line,
                          "\"" + std::string(target) +
                              "\": commands, files and :include: are not supported in aliases");
        }
        auto member = parse_name(target, true);
        if (!member) {
          return error_at(file, target_line,
                          "not a local part or address: \"" + std::string(target) + "\"");
        }
        alias.members.push_back(std::move(*member));
      }
      if (comma == std::string_view::npos) {
        break;
      }
      start += comma + 1;
    }
    if (alias.members.empty()) {
      return error_at(file, first_line, "alias \"" + std::string(name_text) + "\" has no targets");
    }
    aliases_.emplace(key, std::move(alias));
  }
  return std::nullopt;
}

// Lines "old@example.test: new@elsewhere.test", or Postfix's "old new".
std::optional<config::config_error> accounts::parse_relocated(std::string_view text,
                                                              const std::string& file) {
  std::optional<config::config_error> err;
  for_each_line(text, [&](std::size_t n, std::string_view line) {
    if (is_comment_or_blank(line)) {
      return true;
    }
    const std::string_view t = trim(line);
    const std::size_t end = find_unquoted(t, [](char c) { return c == ':' || is_blank(c); });
    if (end == std::string_view::npos) {
      err = error_at(file, n, "expected \"old@domain: new address\"");
      return false;
    }
    const std::string_view old_text = t.substr(0, end);
    std::string_view target = trim(t.substr(end));
    if (target.starts_with(':')) {
      target = trim(target.substr(1));
    }
    const auto old_addr = parse_name(old_text, false);
    if (!old_addr) {
      err = error_at(file, n, "not an address: \"" + std::string(old_text) + "\"");
      return false;
    }
    if (target.empty()) {
      err = error_at(file, n, "no new address for " + old_addr->str());
      return false;
    }
    if (!relocated_.emplace(mail::address_key(*old_addr), std::string(target)).second) {
      err = error_at(file, n, "duplicate entry for " + old_addr->str());
      return false;
    }
    return true;
  });
  return err;
}

bool accounts::is_local_normalized(std::string_view normalized_domain) const {
  return std::find(domains_.begin(), domains_.end(), normalized_domain) != domains_.end();
}

bool accounts::is_local_domain(std::string_view domain) const {
  return is_local_normalized(mail::normalize_domain(domain));
}

// An alias (full address first, then a bare name in a local domain) shadows a user of
// the same address; relocated entries come last.
std::optional<accounts::resolved> accounts::resolve_exact(const mail::address& a,
                                                          const std::string& local_key,
                                                          const std::string& domain_key) const {
  const std::string key = local_key + "@" + domain_key;
  if (const auto it = aliases_.find(key); it != aliases_.end()) {
    return resolved{recipient_kind::Alias, it->second.name, &it->second, nullptr};
  }
  if (is_local_normalized(domain_key)) {
    if (const auto it = aliases_.find(local_key + "@"); it != aliases_.end()) {
      return resolved{recipient_kind::Alias, mail::address{it->second.name.local, domain_key},
                      &it->second, nullptr};
    }
  }
  if (const auto it = user_index_.find(key); it != user_index_.end()) {
    return resolved{recipient_kind::User, users_[it->second].address, nullptr, nullptr};
  }
  if (const auto it = relocated_.find(key); it != relocated_.end()) {
    return resolved{recipient_kind::Relocated, a, nullptr, &it->second};
  }
  return std::nullopt;
}

accounts::resolved accounts::resolve(const mail::address& a) const {
  const std::string domain_key = mail::normalize_domain(a.domain);
  if (auto r = resolve_exact(a, mail::ascii_lower(a.local), domain_key)) {
    return *r;
  }
  // "user+tag" falls back to "user" (Postfix's recipient_delimiter); a local part that
  // starts with the delimiter has no user part to fall back to.
  if (!delimiter_.empty()) {
    const std::size_t pos = a.local.find_first_of(delimiter_);
    if (pos != std::string::npos && pos > 0) {
      const std::string base = mail::ascii_lower(std::string_view(a.local).substr(0, pos));
      if (auto r = resolve_exact(a, base, domain_key)) {
        return *r;
      }
    }
  }
  const recipient_kind kind = is_local_normalized(domain_key) ? recipient_kind::Unknown
                              : relay_.contains(domain_key)   ? recipient_kind::Relay
                                                              : recipient_kind::Remote;
  return resolved{kind, a, nullptr, nullptr};
}

lookup accounts::find(const mail::address& a) const {
  resolved r = resolve(a);
  lookup out;
  out.kind = r.kind;
  out.canonical = std::move(r.canonical);
  if (r.relocated_to != nullptr) {
    out.relocated_to = *r.relocated_to;
  }
  return out;
}

const user* accounts::find_user(const mail::address& a) const {
  const auto it = user_index_.find(mail::address_key(a));
  return it == user_index_.end() ? nullptr : &users_[it->second];
}

bool expansion::deliverable() const {
  return std::ranges::any_of(targets, [](const target& t) {
    return t.k == target::kind::Local || t.k == target::kind::Remote;
  });
}

undeliverable expansion::why_undeliverable() const {
  if (deliverable()) {
    return undeliverable::No;
  }
  if (loop) {
    return undeliverable::Loop;
  }
  const bool all_relocated = !targets.empty() && std::ranges::all_of(targets, [](const target& t) {
    return t.k == target::kind::Relocated;
  });
  return all_relocated ? undeliverable::AllRelocated : undeliverable::Unknown;
}

expansion accounts::expand(const mail::address& a) const {
  expand_state st;
  expand_into(a, 0, st);
  return std::move(st.out);
}

void accounts::expand_into(const mail::address& a, unsigned depth, expand_state& st) const {
  const auto add = [&st](target::kind k, const mail::address& addr) {
    const char tag = k == target::kind::Local    ? 'L'
                     : k == target::kind::Remote ? 'R'
                                                 : 'U';  // unknown or relocated: both bounce
    if (!st.seen.insert(tag + mail::address_key(addr)).second) {
      return false;
    }
    st.out.targets.push_back(target{k, addr, {}});
    return true;
  };
  resolved r = resolve(a);
  switch (r.kind) {
    case recipient_kind::User:
      add(target::kind::Local, r.canonical);
      return;
    case recipient_kind::Remote:
    case recipient_kind::Relay:
      add(target::kind::Remote, a);
      return;
    case recipient_kind::Unknown:
      add(target::kind::Unknown, a);
      return;
    case recipient_kind::Relocated:
      // A relocated member cannot be delivered here: it bounces with its new address.
      if (add(target::kind::Relocated, a)) {
        st.out.targets.back().relocated_to = *r.relocated_to;
      }
      return;
    case recipient_kind::Alias:
      break;
  }
  const std::string key = mail::address_key(r.canonical);
  if (std::find(st.stack.begin(), st.stack.end(), key) != st.stack.end()) {
    // An alias that lists itself ("alice: alice, archive@x") means the user's own
    // mailbox; without such a user it is a loop.
    if (const user* u = find_user(r.canonical)) {
      add(target::kind::Local, u->address);
    } else {
      st.out.loop = true;
    }
    return;
  }
  if (st.done.contains(key)) {
    return;  // its targets are in already; expanding again adds nothing
  }
  if (depth >= k_max_alias_depth) {
    st.out.loop = true;
    return;
  }
  st.stack.push_back(key);
  for (const mail::address& m : r.alias->members) {
    if (m.domain.empty()) {
      expand_into(mail::address{m.local, r.canonical.domain}, depth + 1, st);
    } else {
      expand_into(m, depth + 1, st);
    }
  }
  st.stack.pop_back();
  st.done.insert(key);
}

std::vector<mail::address> accounts::members(const mail::address& a) const {
  const resolved r = resolve(a);
  std::vector<mail::address> out;
  if (r.alias == nullptr) {
    return out;
  }
  for (const mail::address& m : r.alias->members) {
    out.push_back(m.domain.empty() ? mail::address{m.local, r.canonical.domain} : m);
  }
  return out;
}

std::vector<mail::address> accounts::match_name(std::string_view name) const {
  name = trim(name);
  const auto decoded = mail::parse_local_part(name);
  const std::string local_key = mail::ascii_lower(decoded ? std::string_view(*decoded) : name);
  std::vector<mail::address> out;
  std::unordered_set<std::string> keys;
  for (const std::string& d : domains_) {
    const auto r = resolve_exact(mail::address{std::string(name), d}, local_key, d);
    if (r && (r->kind == recipient_kind::User || r->kind == recipient_kind::Alias) &&
        keys.insert(mail::address_key(r->canonical)).second) {
      out.push_back(r->canonical);
    }
  }
  return out;
}

}  // namespace posthorn::policy
