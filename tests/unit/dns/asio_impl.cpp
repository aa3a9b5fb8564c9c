// Boost.Asio's implementation for this test binary: ph_dns is built with
// BOOST_ASIO_SEPARATE_COMPILATION, and in the program ph_net (src/common/asio.cpp)
// provides it, which unit tests do not link.
#include <boost/asio/impl/src.hpp>
