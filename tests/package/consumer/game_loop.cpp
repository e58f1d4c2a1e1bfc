// A game that serves chat from its own single-threaded loop: parley on websocketpp,
// polled once per frame, so chat work never blocks a frame and needs no lock.
#include <parley/parley.hpp>
#include <parley/transport/websocketpp.hpp>

#include <chrono>
#include <thread>

using Transport = parley::WebsocketppTransport<>;

int main() {
    Transport::io_context io;
    Transport transport(io);
    Transport::server_type server;
    server.clear_access_channels(websocketpp::log::alevel::all);  // the game keeps its own log
    server.init_asio(&io);

    parley::Lobby<Transport> lobby(transport);
    transport.bind(server, lobby);
    server.listen(websocketpp::lib::asio::ip::tcp::v4(), 0);  // a real game names its port
    server.start_accept();

    for (int frame = 0; frame < 3; ++frame) {  // the game's loop (three frames, so the test ends)
        io.poll();                             // this frame's chat work; returns at once
        std::this_thread::sleep_for(std::chrono::milliseconds(16));  // update(), render()
    }

    bool chat_closed = false;
    lobby.shutdown("game over", [&] { chat_closed = true; });
    while (!chat_closed) io.run_one();
    server.stop_listening();
    io.poll();  // the cancelled accept completes
    return 0;
}
