// ph_tls is built with BOOST_ASIO_SEPARATE_COMPILATION, and Asio's compiled part lives in
// ph_net (src/common/asio.cpp), which the unit tests do not link. This test binary
// compiles that part itself.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
