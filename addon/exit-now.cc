// Node addon: ends the process at once with an exit status (`_exit`), for the command line
// once a build's output is written and reported.
//
// Node's own exit (`process.exit`, or the event loop running dry) first stops every worker
// thread and waits for each to tear down: the build thread, its compression workers, their
// heaps and wasm modules, and any optimizing compile V8 is running for them, which it lets
// finish. After a `small` build that wait took up to 0.1 s of the command's 0.9 s. The
// command line calls this only once its files are closed, renamed or removed and its
// messages written (`cli/exit-now.mjs`); nothing else in the process holds anything the
// user needs.
#include <node.h>
#include <unistd.h>

#include <cstdio>

namespace {

void ExitNow(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  int status = info[0]->Int32Value(isolate->GetCurrentContext()).FromMaybe(1);
  // Node writes process.stdout and process.stderr itself; C's streams hold nothing of
  // ours, but an addon or a library may have written through them.
  fflush(nullptr);
  _exit(status & 0xff);
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::Local<v8::Function> f = v8::FunctionTemplate::New(isolate, ExitNow)->GetFunction(context).ToLocalChecked();
  exports->Set(context, v8::String::NewFromUtf8Literal(isolate, "exitNow"), f).Check();
  (void)module;
}
