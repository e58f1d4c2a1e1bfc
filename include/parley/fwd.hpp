// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

PARLEY_NAMESPACE_BEGIN

template <class Transport>
class Lobby;
template <class Transport>
class Hub;
template <class Transport>
class Client;

PARLEY_NAMESPACE_END
