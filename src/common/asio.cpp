// Boost.Asio compiled once for the whole program (BOOST_ASIO_SEPARATE_COMPILATION),
// so the files that use it compile faster.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
