// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

/// The shipped test kit, in `parley::testing`: a manual executor, a virtual
/// clock, a scripted transport and peers, so a test drives a whole Lobby on
/// one thread and replays the same schedule every run; and the Transport
/// policy's conformance suite, run against any transport through a small
/// adapter (transport_conformance.hpp).

#include <parley/parley.hpp>
#include <parley/testing/manual_executor.hpp>
#include <parley/testing/mock_peer.hpp>
#include <parley/testing/mock_transport.hpp>
#include <parley/testing/transport_conformance.hpp>
#include <parley/testing/virtual_clock.hpp>
