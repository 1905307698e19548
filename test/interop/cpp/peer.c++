// The C++ reference peer for the RPC interop contract (capnp/interop.capnp), built on libcapnp-rpc.
//
//   peer server --listen HOST:PORT               serve Store as the schema's comments say, until killed
//   peer client --connect HOST:PORT              check every method and behaviour against any server
//   peer bench  --connect HOST:PORT [--calls N]  measure round trip and calls/s
//   peer bench-blob --connect HOST:PORT [--calls N] [--size BYTES]
//                                                only blob throughput: N blobs (default 16) of BYTES
//                                                (default 4 MiB) after two to warm up, one line of JSON
//
// The client prints one line per check (`ok <name>` or `FAIL <name>: <why>`), then `N passed, N failed`
// alone on the last line, and exits 1 on any failure. Build with scripts/build-cpp-peer.sh.

#include "interop.capnp.h"

#include <capnp/ez-rpc.h>
#include <capnp/message.h>
#include <kj/async-io.h>
#include <kj/async.h>
#include <kj/debug.h>
#include <kj/exception.h>
#include <kj/function.h>
#include <kj/string.h>
#include <kj/timer.h>
#include <kj/vector.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr uint32_t MAX_BLOB_BYTES = 32u * 1024 * 1024;

// libcapnp refuses to receive, and also to send, a message larger than the receiver's
// traversalLimitInWords (default 64 MiB). The contract needs 32 MiB blobs; allow four times that so the
// limit is never what a test runs into.
capnp::ReaderOptions largeMessageOptions() {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = 16ull * 1024 * 1024;  // words: 128 MiB
  return options;
}

kj::Exception failure(kj::String description) {
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::mv(description));
}

uint8_t blobByte(uint32_t i) { return static_cast<uint8_t>(i % 251); }

// ---------------------------------------------------------------------------------------------------
// Server

class CounterImpl : public Counter::Server {
 public:
  explicit CounterImpl(int64_t start) : value(start) {}

 protected:
  kj::Promise<void> increment(IncrementContext context) override {
    value += context.getParams().getBy();
    context.getResults().setValue(value);
    return kj::READY_NOW;
  }

  kj::Promise<void> self(SelfContext context) override {
    context.getResults().setCounter(thisCap());
    return kj::READY_NOW;
  }

 private:
  int64_t value;
};

// A counter handed out by `hold`: it counts itself in `live` for as long as anything references it, so
// `held` observes the peer's Release messages.
class HeldCounterImpl final : public CounterImpl {
 public:
  explicit HeldCounterImpl(std::shared_ptr<uint32_t> live) : CounterImpl(0), live(kj::mv(live)) { ++*this->live; }
  ~HeldCounterImpl() noexcept(false) { --*live; }

 private:
  std::shared_ptr<uint32_t> live;
};

class SubscriptionImpl final : public Subscription::Server {
 public:
  explicit SubscriptionImpl(Listener::Client listener) : listener(kj::mv(listener)) {}

 protected:
  // Dropping the last reference to the listener makes libcapnp send Release to its owner. Dropping the
  // subscription itself (the peer releasing it) does the same through this object's destructor.
  kj::Promise<void> cancel(CancelContext) override {
    listener = nullptr;
    return kj::READY_NOW;
  }

 private:
  kj::Maybe<Listener::Client> listener;
};

// Sends notify("event-<i>") for i in [next, count), each after the previous one has returned.
kj::Promise<void> notifyInOrder(Listener::Client listener, uint32_t next, uint32_t count) {
  if (next >= count) return kj::READY_NOW;
  auto request = listener.notifyRequest();
  request.setEvent(kj::str("event-", next));
  return request.send().then([listener, next, count](auto&&) mutable {
    return notifyInOrder(kj::mv(listener), next + 1, count);
  });
}

class StoreImpl final : public Store::Server {
 protected:
  kj::Promise<void> put(PutContext context) override {
    auto params = context.getParams();
    auto key = params.getKey();
    auto value = params.getValue();
    values[std::string(key.begin(), key.size())] = std::vector<uint8_t>(value.begin(), value.end());
    return kj::READY_NOW;
  }

  kj::Promise<void> get(GetContext context) override {
    auto key = context.getParams().getKey();
    auto found = values.find(std::string(key.begin(), key.size()));
    if (found == values.end()) return failure(kj::str("not found: ", key));
    context.getResults().setValue(kj::arrayPtr(found->second.data(), found->second.size()));
    return kj::READY_NOW;
  }

  kj::Promise<void> counter(CounterContext context) override {
    context.getResults().setCounter(kj::heap<CounterImpl>(context.getParams().getStart()));
    return kj::READY_NOW;
  }

  kj::Promise<void> subscribe(SubscribeContext context) override {
    auto params = context.getParams();
    Listener::Client listener = params.getListener();
    return notifyInOrder(listener, 0, params.getEvents()).then([context, listener]() mutable {
      context.getResults().setSub(kj::heap<SubscriptionImpl>(kj::mv(listener)));
    });
  }

  kj::Promise<void> echo(EchoContext context) override {
    context.getResults().setCounter(context.getParams().getCounter());
    return kj::READY_NOW;
  }

  kj::Promise<void> fail(FailContext context) override {
    return failure(kj::str(context.getParams().getMessage()));
  }

  kj::Promise<void> blob(BlobContext context) override {
    uint32_t size = context.getParams().getSize();
    if (size > MAX_BLOB_BYTES) {
      return failure(kj::str("blob of ", size, " bytes refused: the contract's maximum is ", MAX_BLOB_BYTES));
    }
    auto data = context.getResults().initData(size);
    for (uint32_t i = 0; i < size; ++i) data[i] = blobByte(i);
    return kj::READY_NOW;
  }

  kj::Promise<void> hold(HoldContext context) override {
    context.getResults().setCounter(kj::heap<HeldCounterImpl>(held_));
    return kj::READY_NOW;
  }

  kj::Promise<void> held(HeldContext context) override {
    context.getResults().setCount(*held_);
    return kj::READY_NOW;
  }

 private:
  std::map<std::string, std::vector<uint8_t>> values;
  std::shared_ptr<uint32_t> held_ = std::make_shared<uint32_t>(0);
};

int runServer(kj::StringPtr listen) {
  KJ_IF_MAYBE(colon, listen.findLast(':')) {
    capnp::EzRpcServer server(kj::heap<StoreImpl>(), listen, 0, largeMessageOptions());
    auto& waitScope = server.getWaitScope();
    uint port = server.getPort().wait(waitScope);
    printf("listening on %s:%u\n", kj::str(listen.slice(0, *colon)).cStr(), port);
    fflush(stdout);
    kj::NEVER_DONE.wait(waitScope);
  }
  fprintf(stderr, "peer server: --listen wants HOST:PORT (port 0 picks a free one), got '%s'\n", listen.cStr());
  return 2;
}

// ---------------------------------------------------------------------------------------------------
// Client: the checks

struct CheckFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename... Params>
[[noreturn]] void fail(Params&&... params) {
  throw CheckFailed(kj::str(kj::fwd<Params>(params)...).cStr());
}

template <typename... Params>
void expect(bool condition, Params&&... params) {
  if (!condition) fail(kj::fwd<Params>(params)...);
}

// What a local Listener saw; shared so that a listener outliving its check never writes to freed memory.
struct ListenerLog {
  std::vector<std::string> events;
  bool destroyed = false;
};

class LocalListener final : public Listener::Server {
 public:
  explicit LocalListener(std::shared_ptr<ListenerLog> log) : log(kj::mv(log)) {}
  ~LocalListener() noexcept(false) { log->destroyed = true; }

 protected:
  kj::Promise<void> notify(NotifyContext context) override {
    auto event = context.getParams().getEvent();
    log->events.emplace_back(event.begin(), event.size());
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<ListenerLog> log;
};

// A local Counter that records the `by` of every increment in arrival order (for the embargo check).
class RecordingCounter final : public Counter::Server {
 public:
  explicit RecordingCounter(std::shared_ptr<std::vector<int64_t>> arrivals) : arrivals(kj::mv(arrivals)) {}

 protected:
  kj::Promise<void> increment(IncrementContext context) override {
    int64_t by = context.getParams().getBy();
    arrivals->push_back(by);
    value += by;
    context.getResults().setValue(value);
    return kj::READY_NOW;
  }
  kj::Promise<void> self(SelfContext context) override {
    context.getResults().setCounter(thisCap());
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<std::vector<int64_t>> arrivals;
  int64_t value = 0;
};

class Client {
 public:
  explicit Client(kj::StringPtr address)
      : rpc(address, 0, largeMessageOptions()),
        store(rpc.getMain<Store>()),
        waitScope(rpc.getWaitScope()),
        timer(rpc.getIoProvider().getTimer()) {}

  int runChecks();

 private:
  capnp::EzRpcClient rpc;
  Store::Client store;
  kj::WaitScope& waitScope;
  kj::Timer& timer;
  int passed = 0;
  int failed = 0;

  // A server that never answers must fail the check, not hang the whole run.
  static constexpr kj::Duration CHECK_TIMEOUT = 60 * kj::SECONDS;

  template <typename T>
  T await(kj::Promise<T>&& promise) {
    return timer.timeoutAfter(CHECK_TIMEOUT, kj::mv(promise)).wait(waitScope);
  }
  template <typename T>
  capnp::Response<T> await(capnp::RemotePromise<T>&& promise) {
    return await(kj::Promise<capnp::Response<T>>(kj::mv(promise)));
  }

  void sleep(kj::Duration duration) { timer.afterDelay(duration).wait(waitScope); }

  // Polls `condition` until it holds or about five seconds pass (releases travel asynchronously).
  bool eventually(kj::Function<bool()> condition) {
    for (int attempt = 0; attempt < 250; ++attempt) {
      if (condition()) return true;
      sleep(20 * kj::MILLISECONDS);
    }
    return condition();
  }

  void check(const char* name, kj::Function<void()> body) {
    kj::Maybe<kj::String> why;
    try {
      body();
    } catch (const CheckFailed& e) {
      why = kj::str(e.what());
    } catch (const kj::Exception& e) {
      why = kj::str("exception: ", e.getDescription());
    } catch (const std::exception& e) {
      why = kj::str("exception: ", e.what());
    }
    KJ_IF_MAYBE(reason, why) {
      ++failed;
      printf("FAIL %s: %s\n", name, reason->cStr());
    } else {
      ++passed;
      printf("ok %s\n", name);
    }
    fflush(stdout);
  }

  // Runs `body`, which must throw a kj::Exception whose description contains `expected`.
  void expectRemoteFailure(kj::Function<void()> body, kj::StringPtr expected) {
    try {
      body();
    } catch (const kj::Exception& e) {
      auto description = e.getDescription();
      expect(strstr(description.cStr(), expected.cStr()) != nullptr, "exception '", description,
             "' does not contain '", expected, "'");
      return;
    }
    fail("the call succeeded; expected an exception containing '", expected, "'");
  }

  int64_t increment(Counter::Client& counter, int64_t by) {
    auto request = counter.incrementRequest();
    request.setBy(by);
    return await(request.send()).getValue();
  }

  uint32_t heldCount() { return await(store.heldRequest().send()).getCount(); }

  void checkBlob(uint32_t size) {
    auto request = store.blobRequest();
    request.setSize(size);
    auto response = await(request.send());
    auto data = response.getData();
    expect(data.size() == size, "got ", data.size(), " bytes, wanted ", size);
    for (uint32_t i = 0; i < size; ++i) {
      if (data[i] != blobByte(i)) fail("byte ", i, " is ", data[i], ", wanted ", blobByte(i));
    }
  }

  void checkSubscribeRelease(bool cancelFirst);
};

void Client::checkSubscribeRelease(bool cancelFirst) {
  auto log = std::make_shared<ListenerLog>();
  kj::Maybe<Subscription::Client> subscription;
  {
    auto request = store.subscribeRequest();
    request.setListener(kj::heap<LocalListener>(log));
    request.setEvents(3);
    subscription = await(request.send()).getSub();
  }
  expect(log->events.size() == 3, "listener saw ", log->events.size(), " events before subscribe returned, wanted 3");
  // One more round trip: a Release sent too early would arrive before this answer.
  heldCount();
  expect(!log->destroyed, "the server released the listener before the subscription was cancelled or dropped");
  if (cancelFirst) {
    auto& sub = KJ_ASSERT_NONNULL(subscription);
    await(sub.cancelRequest().send());
    // Keep the subscription itself: cancel alone must release the listener.
    expect(eventually([&] { return log->destroyed; }),
           "the listener was not released within 5 s of cancel() returning");
  } else {
    subscription = nullptr;
    expect(eventually([&] { return log->destroyed; }),
           "the listener was not released within 5 s of dropping the subscription");
  }
}

int Client::runChecks() {
  check("put-get-roundtrip", [&] {
    const uint8_t bytes[] = {0, 1, 2, 0xff, 0x80, 'i', 'n', 't', 'e', 'r', 'o', 'p', 0};
    {
      auto request = store.putRequest();
      request.setKey("interop-key");
      request.setValue(kj::arrayPtr(bytes, sizeof(bytes)));
      await(request.send());
    }
    {
      auto request = store.putRequest();
      request.setKey("interop-empty");
      request.setValue(kj::ArrayPtr<const uint8_t>());
      await(request.send());
    }
    auto request = store.getRequest();
    request.setKey("interop-key");
    auto response = await(request.send());  // owns the message that `value` points into
    auto value = response.getValue();
    expect(value == kj::arrayPtr(bytes, sizeof(bytes)), "get returned ", value.size(),
           " bytes that differ from the ", sizeof(bytes), " put");
    auto emptyRequest = store.getRequest();
    emptyRequest.setKey("interop-empty");
    auto emptyResponse = await(emptyRequest.send());
    auto empty = emptyResponse.getValue();
    expect(empty.size() == 0, "an empty value came back with ", empty.size(), " bytes");
  });

  check("get-missing-key-fails-not-found", [&] {
    expectRemoteFailure([&] {
      auto request = store.getRequest();
      request.setKey("no-such-key-4711");
      await(request.send());
    }, "not found: no-such-key-4711");
  });

  check("counter-self-returns-itself", [&] {
    auto request = store.counterRequest();
    request.setStart(40);
    Counter::Client counter = await(request.send()).getCounter();
    expect(increment(counter, 1) == 41, "first increment did not return start + 1");
    Counter::Client self = await(counter.selfRequest().send()).getCounter();
    int64_t viaSelf = increment(self, 1);
    expect(viaSelf == 42, "increment through self() returned ", viaSelf, ", wanted 42 (same counter)");
    int64_t viaOriginal = increment(counter, 1);
    expect(viaOriginal == 43, "increment through the original returned ", viaOriginal, ", wanted 43");
  });

  check("counter-pipelined-one-level", [&] {
    auto request = store.counterRequest();
    request.setStart(10);
    auto counterPromise = request.send();
    // Called on the promised answer, before counter() has returned.
    auto incrementRequest = counterPromise.getCounter().incrementRequest();
    incrementRequest.setBy(5);
    auto incremented = incrementRequest.send();
    int64_t value = await(kj::mv(incremented)).getValue();
    expect(value == 15, "pipelined increment returned ", value, ", wanted 15");
    await(kj::mv(counterPromise));
  });

  check("counter-pipelined-two-levels", [&] {
    auto request = store.counterRequest();
    request.setStart(100);
    auto counterPromise = request.send();
    auto selfPromise = counterPromise.getCounter().selfRequest().send();
    auto incrementRequest = selfPromise.getCounter().incrementRequest();
    incrementRequest.setBy(1);
    auto incremented = incrementRequest.send();
    int64_t value = await(kj::mv(incremented)).getValue();
    expect(value == 101, "counter().counter.self().counter.increment(1) returned ", value, ", wanted 101");
    Counter::Client counter = await(kj::mv(counterPromise)).getCounter();
    int64_t again = increment(counter, 1);
    expect(again == 102, "the counter itself then returned ", again, ", wanted 102 (self() is the same counter)");
    await(kj::mv(selfPromise));
  });

  check("subscribe-notifies-in-order-before-returning", [&] {
    constexpr uint32_t EVENTS = 100;
    auto log = std::make_shared<ListenerLog>();
    auto request = store.subscribeRequest();
    request.setListener(kj::heap<LocalListener>(log));
    request.setEvents(EVENTS);
    auto response = await(request.send());
    expect(log->events.size() == EVENTS, "listener saw ", log->events.size(), " events before subscribe returned, wanted ",
           EVENTS);
    for (uint32_t i = 0; i < EVENTS; ++i) {
      auto wanted = kj::str("event-", i);
      expect(log->events[i] == wanted.cStr(), "event ", i, " was '", log->events[i].c_str(), "', wanted '", wanted, "'");
    }
    await(response.getSub().cancelRequest().send());
  });

  check("subscribe-zero-events", [&] {
    auto log = std::make_shared<ListenerLog>();
    auto request = store.subscribeRequest();
    request.setListener(kj::heap<LocalListener>(log));
    request.setEvents(0);
    auto response = await(request.send());
    expect(log->events.empty(), "listener saw ", log->events.size(), " events, wanted none");
  });

  check("subscribe-cancel-releases-listener", [&] { checkSubscribeRelease(true); });
  check("subscribe-drop-releases-listener", [&] { checkSubscribeRelease(false); });

  check("echo-embargo-keeps-call-order", [&] {
    auto arrivals = std::make_shared<std::vector<int64_t>>();
    auto request = store.echoRequest();
    request.setCounter(kj::heap<RecordingCounter>(arrivals));
    auto echoPromise = request.send();
    Counter::Client pipelined = echoPromise.getCounter();
    kj::Vector<kj::Promise<int64_t>> results;
    auto callPipelined = [&](int64_t by) {
      auto call = pipelined.incrementRequest();
      call.setBy(by);
      results.add(call.send().then([](auto&& response) { return response.getValue(); }));
    };
    // Before echo returns these go to the server, which reflects them back to us.
    for (int64_t by = 1; by <= 3; ++by) callPipelined(by);
    auto echoed = await(kj::mv(echoPromise));
    // Now the promise resolves to our own local counter; without an embargo these would overtake 1..3.
    for (int64_t by = 4; by <= 6; ++by) callPipelined(by);
    auto values = await(kj::joinPromises(results.releaseAsArray()));
    std::vector<int64_t> wanted = {1, 2, 3, 4, 5, 6};
    if (*arrivals != wanted) {
      auto seen = kj::strArray(kj::arrayPtr(arrivals->data(), arrivals->size()), ",");
      fail("local counter saw increments in order [", seen, "], wanted [1,2,3,4,5,6]");
    }
    int64_t sum = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      sum += wanted[i];
      expect(values[i] == sum, "call ", i, " returned ", values[i], ", wanted ", sum);
    }
    Counter::Client returned = echoed.getCounter();
    expect(increment(returned, 7) == sum + 7, "the echoed capability is not the counter that was passed");
    expect(arrivals->back() == 7, "a call on the echoed capability did not reach the local counter");
  });

  check("fail-throws-with-message", [&] {
    expectRemoteFailure([&] {
      auto request = store.failRequest();
      request.setMessage("deliberate failure 93c1: stay calm");
      await(request.send());
    }, "deliberate failure 93c1: stay calm");
  });

  check("connection-usable-after-exception", [&] {
    expectRemoteFailure([&] {
      auto request = store.failRequest();
      request.setMessage("second failure");
      await(request.send());
    }, "second failure");
    auto request = store.counterRequest();
    request.setStart(7);
    Counter::Client counter = await(request.send()).getCounter();
    expect(increment(counter, 1) == 8, "a call after the exception returned a wrong value");
  });

  const uint32_t blobSizes[] = {0, 1, 250, 251, 4096, 1024 * 1024, MAX_BLOB_BYTES};
  for (uint32_t size : blobSizes) {
    auto name = kj::str("blob-", size);
    check(name.cStr(), [&] { checkBlob(size); });
  }

  check("hold-increments-held", [&] {
    uint32_t before = heldCount();
    Counter::Client counter = await(store.holdRequest().send()).getCounter();
    expect(increment(counter, 2) == 2, "a held counter starts at 0; increment(2) did not return 2");
    uint32_t during = heldCount();
    expect(during == before + 1, "held went from ", before, " to ", during, " after hold(), wanted ", before + 1);
  });

  check("release-lowers-held", [&] {
    uint32_t before = 0;
    // The previous check's counter may still be on its way out.
    eventually([&] { before = heldCount(); return before == 0; });
    kj::Maybe<Counter::Client> counter = await(store.holdRequest().send()).getCounter();
    uint32_t during = heldCount();
    expect(during == before + 1, "held is ", during, " while holding one counter, wanted ", before + 1);
    counter = nullptr;
    uint32_t after = during;
    expect(eventually([&] { after = heldCount(); return after == before; }),
           "held stayed at ", after, " after the counter was dropped, wanted ", before, " (no Release?)");
  });

  check("release-counts-every-reference", [&] {
    uint32_t before = 0;
    eventually([&] { before = heldCount(); return before == 0; });
    kj::Maybe<Counter::Client> first = await(store.holdRequest().send()).getCounter();
    kj::Maybe<Counter::Client> second = await(store.holdRequest().send()).getCounter();
    // A second reference to the first counter, received in another message.
    kj::Maybe<Counter::Client> firstAgain =
        await(KJ_ASSERT_NONNULL(first).selfRequest().send()).getCounter();
    uint32_t both = heldCount();
    expect(both == before + 2, "held is ", both, " with two counters held, wanted ", before + 2);
    first = nullptr;
    uint32_t stillBoth = heldCount();
    expect(stillBoth == before + 2, "held dropped to ", stillBoth,
           " while the first counter is still referenced through self(); wanted ", before + 2);
    expect(increment(KJ_ASSERT_NONNULL(firstAgain), 1) == 1, "the first counter no longer answers via self()");
    firstAgain = nullptr;
    uint32_t now = both;
    expect(eventually([&] { now = heldCount(); return now == before + 1; }),
           "held is ", now, " after dropping every reference to the first counter, wanted ", before + 1);
    second = nullptr;
    expect(eventually([&] { now = heldCount(); return now == before; }),
           "held is ", now, " after dropping both counters, wanted ", before);
  });

  check("concurrent-1000-increments", [&] {
    constexpr int CALLS = 1000;
    auto request = store.counterRequest();
    request.setStart(0);
    Counter::Client counter = await(request.send()).getCounter();
    auto calls = kj::heapArrayBuilder<kj::Promise<int64_t>>(CALLS);
    for (int i = 0; i < CALLS; ++i) {
      auto call = counter.incrementRequest();
      call.setBy(1);
      calls.add(call.send().then([](auto&& response) { return response.getValue(); }));
    }
    auto values = await(kj::joinPromises(calls.finish()));
    expect(values.size() == CALLS, "got ", values.size(), " answers, wanted ", CALLS);
    // Calls on one capability are delivered in order (E-order), so call i sees i + 1.
    for (int i = 0; i < CALLS; ++i) {
      expect(values[i] == i + 1, "call ", i, " returned ", values[i], ", wanted ", i + 1);
    }
  });

  printf("%d passed, %d failed\n", passed, failed);
  fflush(stdout);
  return failed == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------------
// Bench

double microsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
}

int runBench(kj::StringPtr address, uint32_t calls) {
  capnp::EzRpcClient rpc(address, 0, largeMessageOptions());
  auto& waitScope = rpc.getWaitScope();
  Store::Client store = rpc.getMain<Store>();
  auto counterRequest = store.counterRequest();
  counterRequest.setStart(0);
  Counter::Client counter = counterRequest.send().wait(waitScope).getCounter();

  auto incrementOnce = [&] {
    auto request = counter.incrementRequest();
    request.setBy(1);
    request.send().wait(waitScope);
  };
  for (uint32_t i = 0; i < std::min<uint32_t>(calls, 1000); ++i) incrementOnce();

  std::vector<double> latencies;
  latencies.reserve(calls);
  auto sequentialStart = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < calls; ++i) {
    auto start = std::chrono::steady_clock::now();
    incrementOnce();
    latencies.push_back(microsSince(start));
  }
  double sequentialMicros = microsSince(sequentialStart);
  std::sort(latencies.begin(), latencies.end());
  auto percentile = [&](double p) {
    size_t index = std::min(latencies.size() - 1, static_cast<size_t>(p * latencies.size()));
    return latencies[index];
  };
  printf("{\"bench\":\"rpc-roundtrip\",\"impl\":\"c++\",\"p50_us\":%.1f,\"p99_us\":%.1f,\"calls\":%u}\n",
         percentile(0.50), percentile(0.99), calls);
  printf("{\"bench\":\"rpc-calls-per-s\",\"impl\":\"c++\",\"mode\":\"sequential\",\"calls_per_s\":%.0f,\"calls\":%u}\n",
         calls / (sequentialMicros / 1e6), calls);
  fflush(stdout);

  // N calls in flight at once on one connection, all sent before the first answer is awaited.
  auto pipelined = [&] {
    auto promises = kj::heapArrayBuilder<kj::Promise<void>>(calls);
    for (uint32_t i = 0; i < calls; ++i) {
      auto request = counter.incrementRequest();
      request.setBy(1);
      promises.add(request.send().ignoreResult());
    }
    kj::joinPromises(promises.finish()).wait(waitScope);
  };
  pipelined();  // warm-up
  auto pipelinedStart = std::chrono::steady_clock::now();
  pipelined();
  double pipelinedMicros = microsSince(pipelinedStart);
  printf("{\"bench\":\"rpc-calls-per-s\",\"impl\":\"c++\",\"mode\":\"pipelined\",\"calls_per_s\":%.0f,\"calls\":%u}\n",
         calls / (pipelinedMicros / 1e6), calls);
  fflush(stdout);

  return 0;
}

// Only Store.blob, for bench/rpc.ts's blob comparison: the same warm-up, size and count as its TS client.
int runBenchBlob(kj::StringPtr address, uint32_t blobs, uint32_t size) {
  capnp::EzRpcClient rpc(address, 0, largeMessageOptions());
  auto& waitScope = rpc.getWaitScope();
  Store::Client store = rpc.getMain<Store>();
  auto fetchBlob = [&] {
    auto request = store.blobRequest();
    request.setSize(size);
    auto response = request.send().wait(waitScope);
    KJ_REQUIRE(response.getData().size() == size, "server returned a blob of the wrong size");
  };
  fetchBlob();  // warm-up: connection, allocator
  fetchBlob();
  auto start = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < blobs; ++i) fetchBlob();
  double micros = microsSince(start);
  printf("{\"mb_per_s\":%.1f,\"blobs\":%u,\"bytes\":%u}\n", (double(size) * blobs / 1e6) / (micros / 1e6), blobs, size);
  fflush(stdout);
  return 0;
}

// ---------------------------------------------------------------------------------------------------

int usage() {
  fprintf(stderr,
          "usage: peer server --listen HOST:PORT\n"
          "       peer client --connect HOST:PORT\n"
          "       peer bench  --connect HOST:PORT [--calls N]\n"
          "       peer bench-blob --connect HOST:PORT [--calls N] [--size BYTES]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  kj::StringPtr mode = argv[1];
  const char* listen = nullptr;
  const char* connect = nullptr;
  uint32_t calls = 10000;
  uint32_t callsGiven = 0;
  uint32_t size = 4u * 1024 * 1024;
  for (int i = 2; i < argc; ++i) {
    kj::StringPtr flag = argv[i];
    if (i + 1 >= argc) return usage();
    kj::StringPtr value = argv[++i];
    if (flag == "--listen") {
      listen = argv[i];
    } else if (flag == "--connect") {
      connect = argv[i];
    } else if (flag == "--calls") {
      calls = callsGiven = static_cast<uint32_t>(strtoul(value.cStr(), nullptr, 10));
      if (calls == 0) return usage();
    } else if (flag == "--size") {
      size = static_cast<uint32_t>(strtoul(value.cStr(), nullptr, 10));
      if (size == 0 || size > MAX_BLOB_BYTES) return usage();
    } else {
      return usage();
    }
  }

  try {
    if (mode == "server" && listen != nullptr) {
      return runServer(listen);
    } else if (mode == "client" && connect != nullptr) {
      Client client(connect);
      return client.runChecks();
    } else if (mode == "bench" && connect != nullptr) {
      return runBench(connect, calls);
    } else if (mode == "bench-blob" && connect != nullptr) {
      return runBenchBlob(connect, callsGiven == 0 ? 16 : callsGiven, size);
    }
  } catch (const kj::Exception& e) {
    fprintf(stderr, "peer %s: %s\n", mode.cStr(), e.getDescription().cStr());
    return 1;
  }
  return usage();
}
