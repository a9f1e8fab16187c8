// Sends raw Ethernet frames on one interface through an AF_PACKET socket.
//
// Why this file exists: gratuitous ARP must leave as a complete Ethernet
// frame (our MAC as source, broadcast as destination), which only AF_PACKET
// can send, and no maintained npm package offers AF_PACKET (raw-socket stops
// at AF_INET/AF_INET6). So this is the smallest addon that does: open a
// socket for an interface index, send a Buffer, close. Frames are built in
// TypeScript (src/io/garp.ts), where they are unit-tested.
//
// Invariants:
// - The socket is opened with protocol 0, so the kernel delivers no frames
//   to it: it only sends, and never accumulates a receive queue.
// - Every failure throws a JS Error whose `code` is the errno name
//   (EPERM, ENODEV, EBADF ...), so callers branch on the code.
// - close() is idempotent; a PacketSocket that is garbage-collected while
//   open closes its descriptor, so a forgotten close() leaks nothing.
#include <napi.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

Napi::Error ErrnoError(Napi::Env env, int err, const char* what) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + std::strerror(err));
  const char* name = nullptr;
  switch (err) {
    case EPERM: name = "EPERM"; break;
    case EACCES: name = "EACCES"; break;
    case ENODEV: name = "ENODEV"; break;
    case ENXIO: name = "ENXIO"; break;
    case ENETDOWN: name = "ENETDOWN"; break;
    case EBADF: name = "EBADF"; break;
    case EINVAL: name = "EINVAL"; break;
    case EMSGSIZE: name = "EMSGSIZE"; break;
    case ENOBUFS: name = "ENOBUFS"; break;
    case EAGAIN: name = "EAGAIN"; break;
    default: name = "EIO"; break;
  }
  e.Set("code", Napi::String::New(env, name));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

class PacketSocket : public Napi::ObjectWrap<PacketSocket> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "PacketSocket",
                                     {InstanceMethod("send", &PacketSocket::Send),
                                      InstanceMethod("close", &PacketSocket::Close)});
    exports.Set("PacketSocket", cls);
    return exports;
  }

  // new PacketSocket(ifindex)
  explicit PacketSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketSocket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      Napi::TypeError::New(env, "ifindex must be a number").ThrowAsJavaScriptException();
      return;
    }
    int ifindex = info[0].As<Napi::Number>().Int32Value();
    if (ifindex <= 0) {
      Napi::TypeError::New(env, "ifindex must be positive").ThrowAsJavaScriptException();
      return;
    }
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ErrnoError(env, errno, "socket(AF_PACKET)").ThrowAsJavaScriptException();
      return;
    }
    fd_ = fd;
    ifindex_ = ifindex;
  }

  ~PacketSocket() override { CloseFd(); }

 private:
  // send(frame: Buffer): number of bytes sent. The frame is a whole Ethernet
  // frame; the destination MAC and EtherType are taken from its header.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) {
      ErrnoError(env, EBADF, "send on a closed PacketSocket").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() < 1 || !info[0].IsBuffer()) {
      Napi::TypeError::New(env, "frame must be a Buffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Buffer<uint8_t> frame = info[0].As<Napi::Buffer<uint8_t>>();
    if (frame.Length() < ETH_HLEN) {
      Napi::TypeError::New(env, "frame shorter than an Ethernet header").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const uint8_t* data = frame.Data();
    struct sockaddr_ll addr;
    std::memset(&addr, 0, sizeof addr);
    addr.sll_family = AF_PACKET;
    addr.sll_ifindex = ifindex_;
    // EtherType as in the frame (already network order there).
    std::memcpy(&addr.sll_protocol, data + 12, 2);
    addr.sll_halen = ETH_ALEN;
    std::memcpy(addr.sll_addr, data, ETH_ALEN);
    ssize_t n = sendto(fd_, data, frame.Length(), 0, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
    if (n < 0) {
      ErrnoError(env, errno, "sendto(AF_PACKET)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseFd();
    return info.Env().Undefined();
  }

  void CloseFd() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  int fd_ = -1;
  int ifindex_ = 0;
};

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return PacketSocket::Init(env, exports); }

}  // namespace

NODE_API_MODULE(af_packet, InitAll)
