#include "auth/dovecot_auth.hpp"

#include <openssl/crypto.h>

#include <charconv>

#include "auth/sasl.hpp"

namespace posthorn::auth::dovecot {

namespace {

// The TAB-separated fields of a line (still escaped).
std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string_view::npos ? tab : tab - start));
    if (tab == std::string_view::npos) {
      return out;
    }
    start = tab + 1;
  }
}

std::optional<std::uint32_t> parse_u32(std::string_view s) {
  std::uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::string escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\001':
        out += "\0011";
        break;
      case '\t':
        out += "\001t";
        break;
      case '\r':
        out += "\001r";
        break;
      case '\n':
        out += "\001n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string unescape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '\001' || i + 1 == value.size()) {
      out += value[i];
      continue;
    }
    switch (value[++i]) {
      case '1':
        out += '\001';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'n':
        out += '\n';
        break;
      default:
        out += value[i];
    }
  }
  return out;
}

std::string client_codec::hello(std::uint32_t pid) {
  return "VERSION\t1\t2\nCPID\t" + std::to_string(pid) + "\n";
}

secret client_codec::auth_plain(std::uint32_t id, const request_info& info, std::string_view user,
                                std::string_view password) {
  // RFC 4616 §2: [authzid] NUL authcid NUL passwd; no authzid.
  secret message;
  message.append(std::string_view("\0", 1));
  message.append(user);
  message.append(std::string_view("\0", 1));
  message.append(password);
  std::string encoded = base64_encode(message.view());
  secret line;
  line.append("AUTH\t" + std::to_string(id) + "\tPLAIN\tservice=" + escape(info.service));
  // Dovecot's disable_plaintext_auth refuses PLAIN unless the channel is secured.
  if (info.secured) {
    line.append("\tsecured");
  }
  if (!info.local_ip.empty()) {
    line.append("\tlip=" + escape(info.local_ip));
  }
  if (!info.remote_ip.empty()) {
    line.append("\trip=" + escape(info.remote_ip));
  }
  if (info.local_port != 0) {
    line.append("\tlport=" + std::to_string(info.local_port));
  }
  if (info.remote_port != 0) {
    line.append("\trport=" + std::to_string(info.remote_port));
  }
  line.append("\tresp=");
  line.append(encoded);
  line.append("\n");
  OPENSSL_cleanse(encoded.data(), encoded.size());
  return line;
}

std::expected<std::optional<client_codec::event>, std::string> client_codec::feed(
    std::string_view& in) {
  while (!in.empty()) {
    const std::size_t nl = in.find('\n');
    if (nl == std::string_view::npos) {
      if (partial_.size() + in.size() > k_max_line) {
        in = {};
        return std::unexpected("line from Dovecot auth too long");
      }
      partial_.append(in);
      in = {};
      return std::nullopt;
    }
    std::string line = std::move(partial_);
    partial_.clear();
    line.append(in.substr(0, nl));
    in.remove_prefix(nl + 1);
    if (line.size() > k_max_line) {
      return std::unexpected("line from Dovecot auth too long");
    }
    auto e = on_line(line);
    if (!e || *e) {
      return e;
    }
  }
  return std::nullopt;
}

std::expected<std::optional<client_codec::event>, std::string> client_codec::on_line(
    std::string_view line) {
  const std::vector<std::string_view> f = split_tabs(line);
  const std::string_view verb = f[0];
  if (!ready_) {
    if (verb == "VERSION") {
      // A different major version is a different protocol; minor versions only add.
      if (f.size() < 3 || f[1] != "1") {
        return std::unexpected("Dovecot auth speaks protocol version " +
                               std::string(f.size() > 1 ? f[1] : "?") + ", not 1");
      }
      version_seen_ = true;
    } else if (verb == "MECH") {
      if (f.size() >= 2) {
        mechs_.push_back(unescape(f[1]));
      }
    } else if (verb == "DONE") {
      if (!version_seen_) {
        return std::unexpected("Dovecot auth sent no VERSION");
      }
      bool plain = false;
      for (const std::string& m : mechs_) {
        plain = plain || parse_mechanism(m) == mechanism::Plain;
      }
      if (!plain) {
        return std::unexpected("Dovecot auth does not offer PLAIN (auth_mechanisms)");
      }
      ready_ = true;
      return event{event::kind::Ready, 0, {}};
    }
    // SPID, CUID, COOKIE and what later versions add are not needed by a client.
    return std::nullopt;
  }
  if (verb != "OK" && verb != "FAIL" && verb != "CONT") {
    return std::nullopt;  // not a reply to a request (unknown lines are ignored)
  }
  if (f.size() < 2) {
    return std::unexpected("malformed reply from Dovecot auth");
  }
  const std::optional<std::uint32_t> id = parse_u32(f[1]);
  if (!id) {
    return std::unexpected("malformed request id from Dovecot auth");
  }
  event e{event::kind::Done, *id, {}};
  if (verb == "CONT") {
    // PLAIN with its initial response needs no continuation: the server is confused.
    e.result = {verdict::TempFail, "", "unexpected continuation from Dovecot auth"};
    return e;
  }
  e.result.v = verb == "OK" ? verdict::Ok : verdict::Fail;
  for (std::size_t i = 2; i < f.size(); ++i) {
    const std::string_view field = f[i];
    const std::size_t eq = field.find('=');
    const std::string_view key = field.substr(0, eq);
    const std::string value = eq == std::string_view::npos ? "" : unescape(field.substr(eq + 1));
    if (key == "user") {
      e.result.user = value;
    } else if (key == "reason") {
      e.result.reason = value;
    } else if (key == "temp" && e.result.v == verdict::Fail) {
      e.result.v = verdict::TempFail;  // passdb lookup failed: the password was not judged
    }
  }
  return e;
}

}  // namespace posthorn::auth::dovecot
