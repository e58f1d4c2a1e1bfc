// gorilla-baseline: the hub/client pattern of gorilla/websocket's chat example
// (examples/chat), on Debian's golang-github-gorilla-websocket-dev, extended to
// rooms and to the subset of parley protocol v1 the load generator uses.
//
// As in the example: each room is a Hub goroutine that alone owns its member
// set; each Client has a readPump goroutine and a writePump goroutine with a
// bounded send channel; a client whose channel is full is dropped. Unlike the
// example, the writePump sends one WebSocket frame per event (parley's protocol
// is one JSON object per frame), so queued messages are not glued together.
//
// Build offline: GO111MODULE=off GOPATH=/usr/share/gocode go build -o gorilla-baseline .
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The example's timing constants, with its reasons.
const (
	// Time allowed to write a message to the peer.
	writeWait = 10 * time.Second
	// Time allowed to read the next pong message from the peer.
	pongWait = 60 * time.Second
	// Send pings to peer with this period. Must be less than pongWait.
	pingPeriod = (pongWait * 9) / 10
	// Maximum message size allowed from peer.
	maxMessageSize = 16384
)

var sendBuffer = flag.Int("sendbuf", 256, "frames queued per client before it is dropped (the example's 256)")

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 1024,
	CheckOrigin:     func(r *http.Request) bool { return true },
}

// ---- wire types ------------------------------------------------------------------

type request struct {
	Type     string `json:"type"`
	Nick     string `json:"nick"`
	Room     string `json:"room"`
	Name     string `json:"name"`
	Text     string `json:"text"`
	ClientID string `json:"client_id"`
}

type roomRef struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Members *int   `json:"members,omitempty"`
}

type message struct {
	Type     string `json:"type"`
	Room     string `json:"room"`
	Seq      uint64 `json:"seq"`
	Ts       int64  `json:"ts"`
	From     string `json:"from"`
	Text     string `json:"text"`
	ClientID string `json:"client_id,omitempty"`
}

// ---- hub: one per room -------------------------------------------------------------

type chatSend struct {
	from     *Client
	text     string
	clientID string
}

// Hub maintains the set of active clients of one room and broadcasts to them.
type Hub struct {
	id         string
	clients    map[*Client]bool
	seq        uint64
	broadcast  chan chatSend
	register   chan *Client
	unregister chan *Client
	members    int64 // read by `rooms` without a round trip
}

func newHub(id string) *Hub {
	return &Hub{
		id:         id,
		clients:    make(map[*Client]bool),
		broadcast:  make(chan chatSend),
		register:   make(chan *Client),
		unregister: make(chan *Client),
	}
}

func (h *Hub) run() {
	for {
		select {
		case client := <-h.register:
			h.clients[client] = true
			atomic.StoreInt64(&h.members, int64(len(h.clients)))
			client.reply(joinedFrame(h.id))
		case client := <-h.unregister:
			if _, ok := h.clients[client]; ok {
				delete(h.clients, client)
				atomic.StoreInt64(&h.members, int64(len(h.clients)))
			}
		case m := <-h.broadcast:
			if _, ok := h.clients[m.from]; !ok {
				m.from.reply(errorFrame("not_in_room", "not in room "+h.id))
				continue
			}
			h.seq++
			frame, _ := json.Marshal(message{Type: "message", Room: h.id, Seq: h.seq,
				Ts: time.Now().UnixMilli(), From: m.from.nick, Text: m.text, ClientID: m.clientID})
			for client := range h.clients {
				select {
				case client.send <- frame:
				default:
					// The example closes the channel; a client may be in several
					// rooms here, so it is closed once through its own kill().
					delete(h.clients, client)
					client.kill()
				}
			}
			atomic.StoreInt64(&h.members, int64(len(h.clients)))
		}
	}
}

// ---- lobby: rooms and nicknames ------------------------------------------------------

type Lobby struct {
	mu      sync.Mutex
	rooms   map[string]*Hub
	nicks   map[string]bool
	session uint64
}

var lobby = &Lobby{rooms: make(map[string]*Hub), nicks: make(map[string]bool)}

func (l *Lobby) room(id string, create bool) (*Hub, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.rooms[id]
	if !ok && create {
		h = newHub(id)
		l.rooms[id] = h
		go h.run()
		return h, true
	}
	return h, false
}

// ---- client ------------------------------------------------------------------------------

// Client is a middleman between the websocket connection and the hubs.
type Client struct {
	conn  *websocket.Conn
	send  chan []byte
	nick  string
	rooms map[string]*Hub // readPump goroutine only
	once  sync.Once
	dead  chan struct{}
}

func (c *Client) kill() {
	c.once.Do(func() {
		close(c.dead)
		c.conn.Close()
	})
}

// reply queues a direct answer; a full queue drops the client like a broadcast does.
func (c *Client) reply(frame []byte) {
	select {
	case c.send <- frame:
	default:
		c.kill()
	}
}

func errorFrame(code, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"type": "error", "code": code, "message": msg})
	return b
}

func joinedFrame(room string) []byte {
	b, _ := json.Marshal(struct {
		Type     string    `json:"type"`
		Room     roomRef   `json:"room"`
		Members  []string  `json:"members"`
		Messages []message `json:"messages"`
		Epoch    string    `json:"epoch"`
		Complete bool      `json:"complete"`
	}{"joined", roomRef{ID: room, Name: room}, []string{}, []message{}, "gorilla", true})
	return b
}

func (c *Client) readPump() {
	defer func() {
		for _, h := range c.rooms {
			select {
			case h.unregister <- c:
			case <-time.After(5 * time.Second):
			}
		}
		if c.nick != "" {
			lobby.mu.Lock()
			delete(lobby.nicks, c.nick)
			lobby.mu.Unlock()
		}
		c.kill()
	}()
	c.conn.SetReadLimit(maxMessageSize)
	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { c.conn.SetReadDeadline(time.Now().Add(pongWait)); return nil })
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		c.conn.SetReadDeadline(time.Now().Add(pongWait))
		var rq request
		if json.Unmarshal(data, &rq) != nil {
			c.reply(errorFrame("bad_json", "not JSON"))
			continue
		}
		switch {
		case rq.Type == "ping":
			c.reply([]byte(`{"type":"pong"}`))
		case rq.Type == "hello":
			if c.nick != "" {
				c.reply(errorFrame("already_identified", "already identified"))
				continue
			}
			lobby.mu.Lock()
			taken := lobby.nicks[rq.Nick]
			if !taken && rq.Nick != "" {
				lobby.nicks[rq.Nick] = true
				lobby.session++
			}
			session := lobby.session
			lobby.mu.Unlock()
			if taken || rq.Nick == "" {
				c.reply(errorFrame("nick_taken", "nickname is taken"))
				continue
			}
			c.nick = rq.Nick
			b, _ := json.Marshal(map[string]interface{}{"type": "welcome", "session": "g-" + strconv.FormatUint(session, 10),
				"nick": c.nick, "token": "t" + strconv.FormatUint(session, 10), "protocol": 1})
			c.reply(b)
		case c.nick == "":
			c.reply(errorFrame("not_identified", "send hello first"))
		case rq.Type == "send":
			h, ok := c.rooms[rq.Room]
			if !ok {
				c.reply(errorFrame("not_in_room", "not in room "+rq.Room))
				continue
			}
			if rq.Text == "" {
				c.reply(errorFrame("text_empty", "text is empty"))
				continue
			}
			h.broadcast <- chatSend{from: c, text: rq.Text, clientID: rq.ClientID}
		case rq.Type == "join":
			h, _ := lobby.room(rq.Room, true)
			c.rooms[rq.Room] = h
			h.register <- c
		case rq.Type == "leave":
			if h, ok := c.rooms[rq.Room]; ok {
				delete(c.rooms, rq.Room)
				h.unregister <- c
				b, _ := json.Marshal(map[string]string{"type": "left", "room": rq.Room})
				c.reply(b)
			} else {
				c.reply(errorFrame("not_in_room", "not in room "+rq.Room))
			}
		case rq.Type == "create_room":
			if _, created := lobby.room(rq.Name, true); !created {
				c.reply(errorFrame("room_exists", "a room named "+rq.Name+" exists"))
				continue
			}
			zero := 0
			b, _ := json.Marshal(struct {
				Type string  `json:"type"`
				Room roomRef `json:"room"`
			}{"room_created", roomRef{ID: rq.Name, Name: rq.Name, Members: &zero}})
			c.reply(b)
		case rq.Type == "rooms":
			lobby.mu.Lock()
			list := make([]roomRef, 0, len(lobby.rooms))
			for id, h := range lobby.rooms {
				n := int(atomic.LoadInt64(&h.members))
				list = append(list, roomRef{ID: id, Name: id, Members: &n})
			}
			lobby.mu.Unlock()
			b, _ := json.Marshal(struct {
				Type  string    `json:"type"`
				Rooms []roomRef `json:"rooms"`
			}{"rooms", list})
			c.reply(b)
		default:
			c.reply(errorFrame("unknown_type", "unknown request type"))
		}
	}
}

// writePump pumps messages from the hubs to the websocket connection, one frame each.
func (c *Client) writePump() {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		c.kill()
	}()
	for {
		select {
		case frame := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
				return
			}
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		case <-c.dead:
			return
		}
	}
}

func serveWs(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	if tcp, ok := conn.UnderlyingConn().(*net.TCPConn); ok {
		tcp.SetNoDelay(true) // Go's default, stated
	}
	client := &Client{conn: conn, send: make(chan []byte, *sendBuffer), rooms: make(map[string]*Hub),
		dead: make(chan struct{})}
	go client.writePump()
	go client.readPump()
}

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 0, "port (0: any free port)")
	flag.Parse()
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("gorilla-baseline listening on http://%s:%d\n", *host, ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	http.HandleFunc("/", serveWs)
	log.Fatal(http.Serve(ln, nil))
}
