// Node addon: compiles a WebAssembly module from wire bytes plus machine code that V8 wrote
// out in an earlier process, and writes a compiled module's code out. Node 20 has no
// code cache for wasm (browsers keep one per HTTP resource), so without this every process
// starts each tool on V8's baseline code and recompiles its hot functions again.
//
// V8's only public way in is streaming compilation: `WebAssembly.compileStreaming(x)` calls
// the isolate's streaming callback with `x`, and the callback feeds a `WasmStreaming`
// (`SetCompiledModuleBytes`, then the wire bytes, then `Finish`). `install()` sets that
// callback for the calling thread's isolate; it takes over Node's own (which compiles a
// fetch `Response`), so a `Response` is handed to the JavaScript fallback given to
// `install`, which feeds its bytes through the handle it receives.
//
// V8 checks the cached bytes' header (its version, flags and CPU features) and falls back to
// compiling the wire bytes when they do not fit; the code itself is trusted, so the caller
// checks where the bytes came from and that they are whole (see workers/runtime/wasm-code-cache.ts).
#include <node.h>
#include <v8.h>

#include <cstring>
#include <memory>

namespace {

using v8::ArrayBuffer;
using v8::ArrayBufferView;
using v8::Boolean;
using v8::Context;
using v8::Exception;
using v8::Function;
using v8::FunctionCallbackInfo;
using v8::FunctionTemplate;
using v8::Isolate;
using v8::Local;
using v8::Object;
using v8::ObjectTemplate;
using v8::String;
using v8::Uint8Array;
using v8::Value;
using v8::WasmModuleObject;
using v8::WasmStreaming;

// One fallback per thread (each thread has its own isolate).
thread_local v8::Global<Function>* fallback = nullptr;

void ThrowType(Isolate* isolate, const char* message) {
  isolate->ThrowException(Exception::TypeError(String::NewFromUtf8(isolate, message).ToLocalChecked()));
}

bool BytesOf(Local<Value> value, const uint8_t** data, size_t* size) {
  if (!value->IsUint8Array()) return false;
  Local<ArrayBufferView> view = value.As<ArrayBufferView>();
  *data = static_cast<const uint8_t*>(view->Buffer()->Data()) + view->ByteOffset();
  *size = view->ByteLength();
  return true;
}

// The handle given to the fallback: feed(bytes), finish(), abort(error).
std::shared_ptr<WasmStreaming>* StreamingOf(const FunctionCallbackInfo<Value>& info) {
  Local<Object> self = info.This();
  if (self->InternalFieldCount() < 1) return nullptr;
  return static_cast<std::shared_ptr<WasmStreaming>*>(self->GetAlignedPointerFromInternalField(0));
}

void HandleFeed(const FunctionCallbackInfo<Value>& info) {
  auto* s = StreamingOf(info);
  const uint8_t* data;
  size_t size;
  if (!s || !*s) return ThrowType(info.GetIsolate(), "the compilation has ended");
  if (!BytesOf(info[0], &data, &size)) return ThrowType(info.GetIsolate(), "feed() takes a Uint8Array");
  (*s)->OnBytesReceived(data, size);
}

void HandleEnd(const FunctionCallbackInfo<Value>& info, bool finish) {
  auto* s = StreamingOf(info);
  if (!s || !*s) return ThrowType(info.GetIsolate(), "the compilation has ended");
  std::shared_ptr<WasmStreaming> streaming = std::move(*s);
  if (finish) {
    streaming->Finish(false);
  } else {
    streaming->Abort(info[0]);
  }
}

void HandleFinish(const FunctionCallbackInfo<Value>& info) { HandleEnd(info, true); }
void HandleAbort(const FunctionCallbackInfo<Value>& info) { HandleEnd(info, false); }

// The streaming callback. `info[0]` is what was passed to compileStreaming (resolved):
// `{ wire: Uint8Array, cached?: Uint8Array }` from wasm-code-cache.ts, else anything for the
// fallback. Sets `accepted` on the request: whether V8 took the cached bytes' header.
void Streaming(const FunctionCallbackInfo<Value>& info) {
  Isolate* isolate = info.GetIsolate();
  Local<Context> context = isolate->GetCurrentContext();
  std::shared_ptr<WasmStreaming> streaming = WasmStreaming::Unpack(isolate, info.Data());
  Local<Value> wire;
  Local<Value> cached;
  const uint8_t* wire_data;
  size_t wire_size;
  Local<Object> request;
  bool ours = info[0]->IsObject() && !info[0]->IsUint8Array();
  if (ours) {
    request = info[0].As<Object>();
    Local<String> key = String::NewFromUtf8Literal(isolate, "wasmCodeCacheRequest");
    Local<Value> marker;
    ours = request->Get(context, key).ToLocal(&marker) && marker->IsTrue() &&
           request->Get(context, String::NewFromUtf8Literal(isolate, "wire")).ToLocal(&wire) &&
           BytesOf(wire, &wire_data, &wire_size) &&
           request->Get(context, String::NewFromUtf8Literal(isolate, "cached")).ToLocal(&cached);
  }
  if (!ours) {
    if (fallback == nullptr) {
      streaming->Abort(Exception::TypeError(
          String::NewFromUtf8Literal(isolate, "WebAssembly.compileStreaming: no fallback in this thread")));
      return;
    }
    Local<ObjectTemplate> templ = ObjectTemplate::New(isolate);
    templ->SetInternalFieldCount(1);
    templ->Set(isolate, "feed", FunctionTemplate::New(isolate, HandleFeed));
    templ->Set(isolate, "finish", FunctionTemplate::New(isolate, HandleFinish));
    templ->Set(isolate, "abort", FunctionTemplate::New(isolate, HandleAbort));
    Local<Object> handle;
    if (!templ->NewInstance(context).ToLocal(&handle)) {
      streaming->Abort(v8::MaybeLocal<Value>());
      return;
    }
    // Freed with the process: one small object per fallback compilation, which is rare.
    handle->SetAlignedPointerInInternalField(0, new std::shared_ptr<WasmStreaming>(streaming));
    Local<Value> args[2] = {info[0], handle};
    Local<Value> ignored;
    if (!fallback->Get(isolate)->Call(context, v8::Undefined(isolate), 2, args).ToLocal(&ignored)) {
      auto* s = static_cast<std::shared_ptr<WasmStreaming>*>(handle->GetAlignedPointerFromInternalField(0));
      if (*s) std::move(*s)->Abort(v8::MaybeLocal<Value>());
    }
    return;
  }
  bool accepted = false;
  const uint8_t* cached_data;
  size_t cached_size;
  // The cached bytes stay alive until Finish returns: `cached` is held by `request`.
  if (BytesOf(cached, &cached_data, &cached_size)) accepted = streaming->SetCompiledModuleBytes(cached_data, cached_size);
  streaming->OnBytesReceived(wire_data, wire_size);
  streaming->Finish(accepted);
  if (request->Set(context, String::NewFromUtf8Literal(isolate, "accepted"), Boolean::New(isolate, accepted)).IsNothing()) return;
}

// install(fallback): routes this thread's WebAssembly.compileStreaming through Streaming.
void Install(const FunctionCallbackInfo<Value>& info) {
  Isolate* isolate = info.GetIsolate();
  if (!info[0]->IsFunction()) return ThrowType(isolate, "install() takes the fallback function");
  if (fallback == nullptr) {
    fallback = new v8::Global<Function>();
    // Dropped while the isolate is alive (a worker thread's ends with its thread).
    node::AddEnvironmentCleanupHook(
        isolate,
        [](void*) {
          delete fallback;
          fallback = nullptr;
        },
        nullptr);
  }
  fallback->Reset(isolate, info[0].As<Function>());
  isolate->SetWasmStreamingCallback(Streaming);
}

// serialize(module): V8's machine code of the module's optimized functions (the others are
// compiled again lazily after loading), as a Uint8Array; empty when V8 cannot serialize it.
void Serialize(const FunctionCallbackInfo<Value>& info) {
  Isolate* isolate = info.GetIsolate();
  if (!info[0]->IsWasmModuleObject()) return ThrowType(isolate, "serialize() takes a WebAssembly.Module");
  v8::CompiledWasmModule compiled = info[0].As<WasmModuleObject>()->GetCompiledModule();
  v8::OwnedBuffer bytes = compiled.Serialize();
  Local<ArrayBuffer> buffer = ArrayBuffer::New(isolate, bytes.size);
  if (bytes.size > 0) memcpy(buffer->Data(), bytes.buffer.get(), bytes.size);
  info.GetReturnValue().Set(Uint8Array::New(buffer, 0, bytes.size));
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  Isolate* isolate = context->GetIsolate();
  auto set = [&](const char* name, v8::FunctionCallback fn) {
    Local<Function> f = FunctionTemplate::New(isolate, fn)->GetFunction(context).ToLocalChecked();
    exports->Set(context, String::NewFromUtf8(isolate, name).ToLocalChecked(), f).Check();
  };
  set("install", Install);
  set("serialize", Serialize);
  (void)module;
}
