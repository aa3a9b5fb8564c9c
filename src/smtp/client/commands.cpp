#include "smtp/client/commands.hpp"

#include "smtp/client/data_encoder.hpp"
#include "smtp/proto/params.hpp"

namespace posthorn::smtp {

client_transaction make_transaction(const queue::envelope& env,
                                    const std::vector<std::size_t>& rcpts,
                                    std::string_view message) {
  client_transaction t;
  t.sender = env.sender;
  t.body = env.body;
  t.smtputf8 = env.smtputf8;
  t.envid = env.envid;
  t.ret = env.ret;
  t.message = message;
  t.recipients.reserve(rcpts.size());
  for (const std::size_t i : rcpts) {
    if (i >= env.recipients.size()) {
      continue;
    }
    const queue::recipient& r = env.recipients[i];
    t.recipients.push_back(client_recipient{r.address, r.notify, r.orcpt});
  }
  return t;
}

namespace detail {
namespace {

bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// RFC 5321 §4.1.2 esmtp-value: octets 33-60 and 62-126 (no SP, no "=", no controls);
// RFC 6531 §3.3 adds UTF-8 when SMTPUTF8 is in use.
bool valid_esmtp_value(std::string_view v, bool utf8) {
  if (v.empty()) {
    return false;
  }
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u > 126) {
      if (!utf8 || u == 0x7f) {
        return false;
      }
    } else if (u < 33 || c == '=') {
      return false;
    }
  }
  return true;
}

std::string notify_value(std::uint8_t bits) {
  // RFC 3461 §4.1: NEVER alone, or a list of SUCCESS, FAILURE, DELAY.
  if ((bits & queue::notify::Never) != 0) {
    return "NEVER";
  }
  std::string v;
  const auto add = [&v](std::string_view word) {
    if (!v.empty()) {
      v += ',';
    }
    v += word;
  };
  if ((bits & queue::notify::Success) != 0) {
    add("SUCCESS");
  }
  if ((bits & queue::notify::Failure) != 0) {
    add("FAILURE");
  }
  if ((bits & queue::notify::Delay) != 0) {
    add("DELAY");
  }
  return v;
}

}  // namespace

std::optional<std::string> render_path(const mail::address& a, bool utf8) {
  if (a.empty()) {
    return std::string();
  }
  mail::address out = a;
  if (!utf8) {
    if (!mail::is_ascii(a.local)) {
      return std::nullopt;
    }
    auto domain = mail::domain_to_ascii(a.domain);
    if (!domain) {
      return std::nullopt;
    }
    out.domain = std::move(*domain);
  } else if (out.domain.empty()) {
    return std::nullopt;
  }
  std::string path = out.str();
  for (const char c : path) {
    if (is_control(c)) {
      return std::nullopt;  // a CR or LF here would smuggle a command onto the wire
    }
  }
  return path;
}

mail_plan plan_transaction(const client_transaction& t, const peer_extensions& ext) {
  mail_plan plan;
  // RFC 1870 §6.1: a message larger than the peer's fixed maximum is a permanent
  // failure, told to the sender without trying.
  const std::uint64_t size = t.size != 0 ? t.size : t.message.size();
  if (ext.size && ext.size_limit != 0 && size > ext.size_limit) {
    plan.failure_dsn = "5.3.4";
    plan.failure_text = "message size " + std::to_string(size) + " exceeds the limit of " +
                        std::to_string(ext.size_limit) + " octets announced by the peer";
    return plan;
  }

  const message_traits traits = scan_message(t.message);
  // RFC 6531 §3.2: mail that needs SMTPUTF8 goes only to a peer that offers it. A
  // non-ASCII local part always needs it. A message received with SMTPUTF8 needs it when
  // its envelope or header section holds UTF-8; if they are pure ASCII, sending it
  // without SMTPUTF8 changes nothing (as Postfix does). Without SMTPUTF8, UTF-8 domains
  // of a plain message are written as A-labels.
  bool local_utf8 = !mail::is_ascii(t.sender.local);
  bool domain_utf8 = !mail::is_ascii(t.sender.domain);
  for (const client_recipient& r : t.recipients) {
    local_utf8 = local_utf8 || !mail::is_ascii(r.address.local);
    domain_utf8 = domain_utf8 || !mail::is_ascii(r.address.domain);
  }
  const bool needs_utf8 = local_utf8 || (t.smtputf8 && (domain_utf8 || traits.header_utf8));
  if (needs_utf8 && !ext.smtputf8) {
    // An envelope address with a UTF-8 local part has no ASCII form: DESIGN.md §4.2
    // bounces it (5.6.7). UTF-8 header fields of a message with an ASCII envelope are
    // downgraded for this peer instead (RFC 6857, DESIGN.md §4.6); UTF-8 domains go
    // as A-labels (render_path()).
    if (local_utf8) {
      plan.failure_dsn = "5.6.7";
      plan.failure_text =
          "the envelope address needs SMTPUTF8 (RFC 6531), which the peer does not offer";
      return plan;
    }
    plan.downgrade = traits.header_utf8;
  }
  plan.use_utf8 = ext.smtputf8 && (needs_utf8 || t.smtputf8);

  // RFC 3030 §3: a BINARYMIME message goes only by BDAT to a peer offering both CHUNKING
  // and BINARYMIME; it cannot be turned into lines for DATA without a MIME conversion we
  // do not do, so it is refused here for good (5.6.3: conversion required but not
  // supported), whatever its octets are. Any other message goes by BDAT when the peer
  // offers CHUNKING (no dot-stuffing, RFC 3030 §2), else by DATA.
  plan.bdat = ext.chunking;
  if (t.body == queue::body_type::BinaryMime) {
    if (!ext.chunking || !ext.binarymime) {
      plan.failure_dsn = "5.6.3";
      plan.failure_text =
          "the peer does not support BINARYMIME (RFC 3030); the binary message cannot be "
          "converted for it";
      return plan;
    }
    plan.binarymime = true;
    plan.dsn = ext.dsn;
    return plan;
  }

  // RFC 6152 §3: BODY=8BITMIME when the message was received as 8 bit and the peer
  // offers it. An 8-bit message to a peer without 8BITMIME would need conversion to
  // 7 bit (RFC 6152 §3 / RFC 1652 §4: quoted-printable or base64 of every 8-bit MIME
  // part); we do not convert and fail it with 5.6.3 instead. A message declared 8 bit
  // that holds only 7-bit octets goes as is. A message declared 7BIT that holds 8-bit
  // octets anyway is passed on unchanged, as received.
  const bool declared_8bit = t.body != queue::body_type::SevenBit;
  // After a downgrade only the body can still hold 8-bit octets.
  const bool octets_8bit = plan.downgrade ? traits.body_8bit : traits.eight_bit;
  const bool wants_8bit = declared_8bit || ((plan.use_utf8 || plan.downgrade) && octets_8bit);
  if (wants_8bit && ext.eightbitmime) {
    plan.body_8bit = true;
  } else if (declared_8bit && octets_8bit) {
    plan.failure_dsn = "5.6.3";
    plan.failure_text =
        "8-bit message to a peer without 8BITMIME (RFC 6152); conversion to 7 bit is not "
        "supported";
    return plan;
  }
  plan.dsn = ext.dsn;
  return plan;
}

std::string mail_command(const client_transaction& t, const mail_plan& plan,
                         const peer_extensions& ext, const std::string& path) {
  std::string line = "MAIL FROM:<" + path + ">";
  if (ext.size) {
    const std::uint64_t size = t.size != 0 ? t.size : t.message.size();
    line += " SIZE=" + std::to_string(size);  // RFC 1870 §6
  }
  if (plan.binarymime) {
    line += " BODY=BINARYMIME";
  } else if (plan.body_8bit) {
    line += " BODY=8BITMIME";
  }
  if (plan.use_utf8) {
    line += " SMTPUTF8";
  }
  if (plan.dsn) {
    // RFC 3461 §4.3, §4.4: RET and ENVID only to a peer offering DSN.
    if (t.ret == queue::dsn_ret::Full) {
      line += " RET=FULL";
    } else if (t.ret == queue::dsn_ret::Hdrs) {
      line += " RET=HDRS";
    }
    if (!t.envid.empty()) {
      line += " ENVID=" + xtext_encode(t.envid);
    }
  }
  line += "\r\n";
  return line;
}

std::string rcpt_command(const client_recipient& r, const mail_plan& plan,
                         const std::string& path) {
  std::string line = "RCPT TO:<" + path + ">";
  if (plan.dsn) {
    // RFC 3461 §4.1, §4.2: NOTIFY and ORCPT as the sender gave them.
    if (const std::string notify = notify_value(r.notify); !notify.empty()) {
      line += " NOTIFY=" + notify;
    }
    // ORCPT was checked when it was received; a value that would break the command line
    // (or UTF-8 without SMTPUTF8, RFC 6533 §3) is left out rather than sent.
    if (valid_esmtp_value(r.orcpt, plan.use_utf8) && r.orcpt.find(';') != std::string::npos) {
      line += " ORCPT=" + r.orcpt;
    }
  }
  line += "\r\n";
  return line;
}

}  // namespace detail
}  // namespace posthorn::smtp
