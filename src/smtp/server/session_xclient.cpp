// XCLIENT (Postfix's XCLIENT_README): a proxy or filter in [smtp] xclient_networks names
// the client it speaks for, and the session starts over as if that client had connected.
//
// Where Postfix leaves a choice, posthorn decides so:
// * Only clients in xclient_networks (judged by the address the connection came from, or
//   the one a PROXY header gave) see XCLIENT in EHLO and may use it; they may use it again
//   after a first XCLIENT, as a proxy reusing its connection would.
// * A new ADDR without NAME makes the name "unknown": the old name belonged to the old
//   address.
// * HELO and PROTO given here stay for the session: the proxy's own HELO/EHLO (which it
//   must send again, the session being reset) does not replace them in Received:.
// * LOGIN is the account the client authenticated as (an address, or a bare local part
//   naming one user of a local domain); without LOGIN the session is not authenticated.
// * The driver moves the per-IP connection count to the new address and refuses it (421)
//   when that address is over [limits] connections_per_ip, as at connect.

#include <spdlog/spdlog.h>

#include "mail/address.hpp"
#include "smtp/proto/xclient.hpp"
#include "smtp/server/session.hpp"

namespace posthorn::smtp {

std::optional<mail::address> session::xclient_login(std::string_view name) const {
  if (name.find('@') != std::string_view::npos) {
    auto a = mail::parse_address(name, /*allow_brackets=*/false);
    if (!a || a->local.empty() || a->domain.empty()) {
      return std::nullopt;
    }
    if (const policy::user* u = accounts_->find_user(*a)) {
      return u->address;
    }
    return a;
  }
  // A bare local part: the one user of a local domain with it (as AUTH resolves it).
  const auto local = mail::parse_local_part(name);
  if (!local) {
    return std::nullopt;
  }
  const std::string wanted = mail::ascii_lower(*local);
  std::optional<mail::address> found;
  for (const policy::user& u : accounts_->users()) {
    if (mail::ascii_lower(u.address.local) == wanted &&
        accounts_->is_local_domain(u.address.domain)) {
      if (found) {
        return std::nullopt;  // ambiguous: the full address is needed
      }
      found = u.address;
    }
  }
  return found;
}

void session::on_xclient(const command& c) {
  // Outsiders learn nothing more than that they may not (Postfix's reply).
  if (!settings_.xclient_allowed) {
    error_reply(550, "5.7.0", "Error: insufficient authorization");
    return;
  }
  if (txn_.active) {
    error_reply(503, "5.5.1", "Error: MAIL transaction in progress");
    return;
  }
  auto req = parse_xclient(c.arg);
  if (!req) {
    error_reply(501, "5.5.4", req.error().text);
    return;
  }
  std::optional<mail::address> login;
  if (req->login.has_value()) {
    login = xclient_login(req->login.value);
    if (!login) {
      error_reply(501, "5.5.4", "Bad LOGIN syntax: not an account address");
      return;
    }
  }
  client_change ch;
  ch.peer = peer_;
  if (req->addr.given()) {
    ch.peer.addr = req->addr.has_value() ? req->addr.value : std::string("unknown");
    ch.peer.name = "unknown";
  }
  if (req->name.given()) {
    ch.peer.name = req->name.has_value() ? req->name.value : std::string("unknown");
  }
  ch.helo = req->helo.value;
  ch.login = login ? login->str() : std::string();
  ch.proto = req->proto.value;
  ch.port = req->port.value;
  ch.destaddr = req->destaddr.value;
  ch.destport = req->destport.value;
  xclient_ = std::move(ch);
  xclient_login_ = std::move(login);
  // What only this request says about HELO and PROTO is kept until client_done().
  helo_fixed_ = req->helo.has_value();
  proto_fixed_ = req->proto.value;
  xclient_pending_ = true;
}

void session::client_done(bool trusted, bool admitted, std::optional<reply> refusal) {
  xclient_pending_ = false;
  if (!admitted) {
    reply_with(421, "4.7.0",
               settings_.hostname + " Error: too many connections from " + xclient_.peer.addr);
    mode_ = input_mode::Closed;
    return;
  }
  peer_ = xclient_.peer;
  peer_.trusted = trusted;
  // As if the client had just connected: no transaction, no HELO/EHLO, no login but
  // the one XCLIENT named. TLS, being the connection's, stays.
  reset_transaction();
  enter_phase(phase::Connected);
  esmtp_ = false;
  helo_ = helo_fixed_ ? xclient_.helo : std::string();
  auth_user_ = std::move(xclient_login_);
  xclient_login_.reset();
  sasl_.reset();
  service_refused_ = false;
  if (refusal && refusal->code == 421) {
    refuse(*refusal);
  } else if (refusal) {
    refuse_service(*refusal);
  } else {
    greet();
  }
}

}  // namespace posthorn::smtp
