// pybind11 layer: converts arrays, checks arguments, releases the GIL, calls the engine.
// No policy lives here: colour, dtype, weights and defaults are Python's.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <limits>
#include <exception>
#include <functional>
#include <string>

#include "../bench/fma_probe.h"
#include "../dispatch/dispatch.h"
#include "../engine/executor.h"
#include "../engine/network.h"
#include "../engine/frame.h"
#include "../engine/resize.h"

namespace py = pybind11;
using fsrcnn::Border;
using fsrcnn::ConvLayer;
using fsrcnn::Network;
using fsrcnn::Tail;
using fsrcnn::TailKind;
using fsrcnn::kernels::Activation;

namespace {

using FloatArray = py::array_t<float, py::array::c_style>;

// The engine's limits, exported once as _core.limits (Python's checks read them from there).
constexpr int kMaxScale = 16, kMinOffset = -32, kMaxOffset = 32;

FloatArray as_float32(const py::handle& obj, const char* what, int ndim) {
  if (!py::isinstance<py::array>(obj)) throw py::type_error(std::string(what) + " must be a numpy array");
  auto arr = py::reinterpret_borrow<py::array>(obj);
  if (!arr.dtype().equal(py::dtype::of<float>()))
    throw py::type_error(std::string(what) + " must be float32, got " + std::string(py::str(arr.dtype())));
  if (arr.ndim() != ndim)
    throw py::value_error(std::string(what) + " must have " + std::to_string(ndim) + " dimensions, got " +
                          std::to_string(arr.ndim()));
  if (!(arr.flags() & py::array::c_style)) throw py::value_error(std::string(what) + " must be C-contiguous");
  return py::reinterpret_borrow<FloatArray>(arr);
}

std::vector<float> to_vector(const FloatArray& a) { return std::vector<float>(a.data(), a.data() + a.size()); }

Border parse_border(const std::string& s) {
  if (s == "zero") return Border::Zero;
  if (s == "replicate") return Border::Replicate;
  throw py::value_error("border must be 'zero' or 'replicate', got '" + s + "'");
}

Activation parse_activation(const std::string& s) {
  if (s == "none") return Activation::None;
  if (s == "relu") return Activation::ReLU;
  if (s == "prelu") return Activation::PReLU;
  throw py::value_error("activation must be 'none', 'relu' or 'prelu', got '" + s + "'");
}

// _core.ConvLayer(weight OIHW, bias [cout], slope [cout] or [0], activation, border): checked once here.
ConvLayer make_conv(const py::object& weight, const py::object& bias, const py::object& slope,
                    const std::string& activation, const std::string& border) {
  const FloatArray w = as_float32(weight, "conv weight", 4);
  if (w.shape(2) != w.shape(3)) throw py::value_error("conv kernel must be square");
  ConvLayer l;
  l.cout = static_cast<int>(w.shape(0));
  l.cin = static_cast<int>(w.shape(1));
  l.k = static_cast<int>(w.shape(2));
  l.weight = to_vector(w);
  l.bias = to_vector(as_float32(bias, "conv bias", 1));
  l.slope = to_vector(as_float32(slope, "conv slope", 1));
  l.act = parse_activation(activation);
  l.border = parse_border(border);
  return l;
}

Tail make_tail(const std::string& kind, const py::object& weight, const py::object& bias, int scale, int offset,
               const std::string& border) {
  Tail tail;
  if (kind == "none") return tail;
  tail.scale = scale;
  tail.offset = offset;
  tail.border = parse_border(border);
  tail.bias = to_vector(as_float32(bias, "tail bias", 1));
  if (kind == "deconv") {
    const FloatArray w = as_float32(weight, "deconv weight", 3);  // [cin][k][k]
    if (w.shape(1) != w.shape(2)) throw py::value_error("deconv kernel must be square");
    tail.kind = TailKind::Deconv;
    tail.cin = static_cast<int>(w.shape(0));
    tail.k = static_cast<int>(w.shape(1));
    tail.weight = to_vector(w);
  } else if (kind == "subpixel") {
    const FloatArray w = as_float32(weight, "sub-pixel weight", 4);  // [scale^2][cin][k][k]
    if (w.shape(2) != w.shape(3)) throw py::value_error("sub-pixel kernel must be square");
    if (w.shape(0) != static_cast<py::ssize_t>(scale) * scale)
      throw py::value_error("sub-pixel weight must have scale^2 output channels");
    tail.kind = TailKind::Subpixel;
    tail.cin = static_cast<int>(w.shape(1));
    tail.k = static_cast<int>(w.shape(2));
    tail.weight = to_vector(w);
  } else {
    throw py::value_error("tail kind must be 'none', 'deconv' or 'subpixel', got '" + kind + "'");
  }
  return tail;
}

// A Python int as a C++ int, or a ValueError naming it (pybind11's own cast raises RuntimeError).
int int_in_range(const py::handle& value, const char* name, long long lo, long long hi) {
  PyObject* index = py::isinstance<py::bool_>(value) ? nullptr : PyNumber_Index(value.ptr());
  if (index == nullptr) {
    PyErr_Clear();
    throw py::type_error(std::string(name) + " must be an integer");
  }
  const py::int_ v = py::reinterpret_steal<py::int_>(index);
  if (v < py::int_(lo) || v > py::int_(hi))
    throw py::value_error(std::string(name) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                          "], got " + py::str(v).cast<std::string>());
  return v.cast<int>();
}

// _core.Tail(kind, weight, bias, scale, offset, border): scale and offset range-checked here.
Tail make_checked_tail(const std::string& kind, const py::object& weight, const py::object& bias,
                       const py::object& scale, const py::object& offset, const std::string& border) {
  return make_tail(kind, weight, bias, int_in_range(scale, "tail scale", 1, kMaxScale),
                   int_in_range(offset, "deconv offset", kMinOffset, kMaxOffset), border);
}

const fsrcnn::KernelTable* table_for(const py::object& isa) {
  if (isa.is_none()) return nullptr;
  try {
    return &fsrcnn::kernel_table(fsrcnn::parse_isa(isa.cast<std::string>()));
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
}

// A caller-provided output must be float32, C-contiguous, writeable and exactly the right shape.
float* output_buffer(const py::object& out, py::array_t<float>& fresh, py::ssize_t d0, py::ssize_t d1, py::ssize_t d2 = -1) {
  std::vector<py::ssize_t> shape = {d0, d1};
  if (d2 >= 0) shape.insert(shape.begin(), d2);
  if (out.is_none()) {
    fresh = py::array_t<float>(shape);
    return fresh.mutable_data();
  }
  const FloatArray o = as_float32(out, "out", static_cast<int>(shape.size()));
  for (std::size_t i = 0; i < shape.size(); ++i)
    if (o.shape(static_cast<py::ssize_t>(i)) != shape[i]) throw py::value_error("out has the wrong shape");
  if (!o.writeable()) throw py::value_error("out must be writeable");
  fresh = o;
  return fresh.mutable_data();
}

FloatArray checked_input(const py::object& image, int threads, int tile_rows, int tile_cols) {
  const FloatArray in = as_float32(image, "image", 2);
  if (in.shape(0) < 1 || in.shape(1) < 1) throw py::value_error("image must not be empty");
  if (in.shape(0) > fsrcnn::kMaxSide || in.shape(1) > fsrcnn::kMaxSide) throw py::value_error("image is too large");
  if (threads < 1) throw py::value_error("threads must be >= 1");
  if (tile_rows < 0 || tile_cols < 0) throw py::value_error("tile sizes must be >= 0 (0: automatic)");
  return in;
}

// Python runs signal handlers on its main thread only.
bool on_main_thread() {
  const py::object main = py::module_::import("threading").attr("main_thread")();
  return main.attr("ident").cast<unsigned long>() == PyThread_get_thread_ident();
}

// Runs an engine call with the GIL released, interruptible: on Python's main thread the call runs on a
// pool thread while this one checks for pending signals every 25 ms (taking the GIL back for the
// check only). When a handler raises (Ctrl-C: KeyboardInterrupt), the call is cancelled, its workers
// are waited for (none keeps running) and the exception propagates; the outputs are incomplete and
// the caller drops them. On other threads no signal handler can run, so the call runs right here.
void run_interruptible(const std::function<void()>& work, fsrcnn::CancelFlag& cancel) {
  if (!on_main_thread()) {
    py::gil_scoped_release release;
    work();
    return;
  }
  constexpr double kPollSeconds = 0.025;
  bool interrupted = false;
  std::exception_ptr error;
  PyThreadState* state = PyEval_SaveThread();
  try {
    fsrcnn::Background call(work);
    while (!call.wait_for(kPollSeconds)) {
      PyEval_RestoreThread(state);
      interrupted = PyErr_CheckSignals() != 0;
      state = PyEval_SaveThread();
      if (interrupted) {
        cancel.store(true);
        call.wait();
        break;
      }
    }
    call.rethrow_if_failed();
  } catch (...) {
    error = std::current_exception();
  }
  PyEval_RestoreThread(state);
  if (interrupted) throw py::error_already_set();  // the handler's exception, pending since the check
  if (error) std::rethrow_exception(error);
}

// One output: tail `tail` (the only one of a single-scale network).
py::array_t<float> run(const Network& net, const py::object& image, int threads, int tile_rows, int tile_cols,
                       const py::object& isa, const py::object& out_arg, int tail) {
  const FloatArray in = checked_input(image, threads, tile_rows, tile_cols);
  if (tail < 0 || tail >= net.tails()) throw py::value_error("tail index out of range");
  fsrcnn::CancelFlag cancel{false};
  const fsrcnn::RunOptions options{threads, tile_rows, tile_cols, table_for(isa), &cancel};
  const int rows = static_cast<int>(in.shape(0)), cols = static_cast<int>(in.shape(1));
  const py::ssize_t s = net.scale(tail);
  py::array_t<float> result;
  std::vector<float*> outputs(net.tails(), nullptr);
  outputs[tail] = output_buffer(out_arg, result, rows * s, cols * s);
  run_interruptible([&] { net.run(in.data(), rows, cols, outputs, options); }, cancel);
  return result;
}

// Every output at once: the shared layers run once.
py::list run_all(const Network& net, const py::object& image, int threads, int tile_rows, int tile_cols,
                 const py::object& isa) {
  const FloatArray in = checked_input(image, threads, tile_rows, tile_cols);
  fsrcnn::CancelFlag cancel{false};
  const fsrcnn::RunOptions options{threads, tile_rows, tile_cols, table_for(isa), &cancel};
  const int rows = static_cast<int>(in.shape(0)), cols = static_cast<int>(in.shape(1));
  std::vector<py::array_t<float>> results;
  std::vector<float*> outputs;
  for (int t = 0; t < net.tails(); ++t) {
    const py::ssize_t s = net.scale(t);
    results.emplace_back(std::vector<py::ssize_t>{rows * s, cols * s});
    outputs.push_back(results.back().mutable_data());
  }
  run_interruptible([&] { net.run(in.data(), rows, cols, outputs, options); }, cancel);
  py::list out;
  for (auto& r : results) out.append(r);
  return out;
}

// One conv layer through one ISA's conv_row kernel (or, with winograd = m, its conv3x3_wino{m}x{m}
// kernel in groups of m rows) over a whole [cin][rows + k - 1][cols + k - 1] input: the kernel tests compare every ISA
// against ref and the oracle with this.
py::array_t<float> conv_valid(const std::string& isa, const py::object& input, const py::object& weight,
                              const py::object& bias, const py::object& slope, const std::string& act, bool reorder,
                              int winograd) {
  const fsrcnn::KernelTable& table = *table_for(py::str(isa));
  const FloatArray x = as_float32(input, "input", 3);
  const FloatArray w = as_float32(weight, "weight", 4);
  ConvLayer layer;
  layer.cout = static_cast<int>(w.shape(0));
  layer.cin = static_cast<int>(w.shape(1));
  layer.k = static_cast<int>(w.shape(2));
  if (w.shape(3) != layer.k || layer.k % 2 == 0) throw py::value_error("weight must be [cout][cin][k][k], k odd");
  if (winograd != 0 && winograd != 2 && winograd != 4) throw py::value_error("winograd must be 0, 2 or 4");
  if (winograd && layer.k != 3) throw py::value_error("winograd needs a 3 x 3 kernel");
  if (x.shape(0) != layer.cin) throw py::value_error("input channels != weight cin");
  const int rows = static_cast<int>(x.shape(1)) - layer.k + 1, cols = static_cast<int>(x.shape(2)) - layer.k + 1;
  if (rows < 1 || cols < 1) throw py::value_error("input smaller than the kernel");
  layer.weight = to_vector(w);
  layer.bias = to_vector(as_float32(bias, "bias", 1));
  layer.slope = to_vector(as_float32(slope, "slope", 1));
  layer.act = parse_activation(act);
  if (layer.bias.size() != static_cast<std::size_t>(layer.cout)) throw py::value_error("bias must have cout elements");
  if (layer.act == Activation::PReLU && layer.slope.size() != static_cast<std::size_t>(layer.cout))
    throw py::value_error("slope must have cout elements");
  fsrcnn::PreparedConv prepared = fsrcnn::prepare_conv(layer, reorder);
  if (winograd) fsrcnn::add_winograd(prepared, layer, winograd);
  // Rows padded as the kernel contracts ask: room past cols for whole vectors (and Winograd blocks),
  // and up to 3 more input rows for the last row group.
  const int group = winograd ? winograd : 1;
  const int in_stride = (cols + 7) / 8 * 8 + layer.k - 1 + 48;
  const int out_stride = (cols + 7) / 8 * 8 + 48;
  const int in_rows = rows + layer.k + 2;
  std::vector<float> in_buf(static_cast<std::size_t>(layer.cin) * in_rows * in_stride, 0.0f);
  for (int c = 0; c < layer.cin; ++c)
    for (int y = 0; y < in_rows - 3; ++y)
      std::copy(x.data(c, y, 0), x.data(c, y, 0) + x.shape(2),
                in_buf.begin() + (static_cast<std::size_t>(c) * in_rows + y) * in_stride);
  const std::size_t out_slot = static_cast<std::size_t>(layer.cout) * out_stride;
  std::vector<float> out_buf(4 * out_slot, 0.0f);
  std::vector<float> scratch(fsrcnn::kernels::wino_scratch_floats(4, layer.cin, layer.cout));
  py::array_t<float> result({layer.cout, rows, cols});
  std::vector<const float*> window(layer.k + 3);
  const std::ptrdiff_t in_cstride = static_cast<std::ptrdiff_t>(in_rows) * in_stride;
  for (int y = 0; y < rows; y += group) {
    for (int ky = 0; ky < layer.k + 3; ++ky) window[ky] = in_buf.data() + static_cast<std::size_t>(y + ky) * in_stride;
    if (winograd) {
      fsrcnn::kernels::ConvRowGroup rows_out{window.data(), in_cstride, {}, out_stride, cols, scratch.data()};
      for (int r = 0; r < 4; ++r) rows_out.out[r] = out_buf.data() + r * out_slot;
      (winograd == 2 ? table.conv3x3_wino2x2 : table.conv3x3_wino4x4)(prepared.winograd_view(), rows_out);
    } else {
      const fsrcnn::kernels::ConvRow row{window.data(), in_cstride, out_buf.data(), out_stride, cols};
      table.conv_row(prepared.view(), row);
    }
    for (int r = 0; r < group && y + r < rows; ++r)
      for (int c = 0; c < layer.cout; ++c) {
        const auto src = out_buf.begin() + r * out_slot + static_cast<std::size_t>(prepared.position[c]) * out_stride;
        std::copy(src, src + cols, result.mutable_data(c, y + r, 0));
      }
  }
  return result;
}

using IndexArray = py::array_t<std::int32_t, py::array::c_style>;

fsrcnn::Contributions contributions(const py::object& index, const py::object& weight, int in_len,
                                    const char* axis) {
  if (!py::isinstance<py::array>(index)) throw py::type_error(std::string(axis) + " index must be a numpy array");
  const auto arr = py::reinterpret_borrow<py::array>(index);
  if (!arr.dtype().equal(py::dtype::of<std::int32_t>()) || arr.ndim() != 2)
    throw py::type_error(std::string(axis) + " index must be a 2-D int32 array");
  if (!(arr.flags() & py::array::c_style)) throw py::value_error(std::string(axis) + " index must be C-contiguous");
  const auto idx = py::reinterpret_borrow<IndexArray>(arr);
  const FloatArray w = as_float32(weight, (std::string(axis) + " weight").c_str(), 2);
  if (idx.shape(0) != w.shape(0) || idx.shape(1) != w.shape(1) || idx.shape(0) < 1 || idx.shape(1) < 1)
    throw py::value_error(std::string(axis) + " index and weight must have the same non-empty shape");
  for (py::ssize_t i = 0; i < idx.size(); ++i)
    if (idx.data()[i] < 0 || idx.data()[i] >= in_len)
      throw py::value_error(std::string(axis) + " index out of range");
  return {static_cast<int>(idx.shape(0)), static_cast<int>(idx.shape(1)), idx.data(), w.data()};
}

py::array_t<float> resize(const py::object& planes, const py::object& row_index, const py::object& row_weight,
                          const py::object& col_index, const py::object& col_weight, int threads,
                          const py::object& out_arg) {
  const FloatArray in = as_float32(planes, "planes", 3);
  if (in.shape(0) < 1 || in.shape(1) < 1 || in.shape(2) < 1) throw py::value_error("planes must not be empty");
  if (threads < 1) throw py::value_error("threads must be >= 1");
  const int channels = static_cast<int>(in.shape(0)), rows = static_cast<int>(in.shape(1)),
            cols = static_cast<int>(in.shape(2));
  const fsrcnn::Contributions rc = contributions(row_index, row_weight, rows, "row");
  const fsrcnn::Contributions cc = contributions(col_index, col_weight, cols, "column");
  py::array_t<float> out;
  float* dst = output_buffer(out_arg, out, rc.out_len, cc.out_len, channels);
  fsrcnn::CancelFlag cancel{false};
  run_interruptible([&] { fsrcnn::resize_planes(in.data(), channels, rows, cols, rc, cc, dst, threads, &cancel); },
                    cancel);
  return out;
}

// ---- frames: the caller's arrays as they are (any strides), see engine/frame.h ----

fsrcnn::kernels::Sample sample_of(const py::dtype& dt, const char* what) {
  if (dt.equal(py::dtype::of<std::uint8_t>())) return fsrcnn::kernels::Sample::U8;
  if (dt.equal(py::dtype::of<std::uint16_t>())) return fsrcnn::kernels::Sample::U16;
  if (dt.equal(py::dtype::of<float>())) return fsrcnn::kernels::Sample::F32;
  if (dt.equal(py::dtype::of<double>())) return fsrcnn::kernels::Sample::F64;
  throw py::type_error(std::string(what) + " must be uint8, uint16, float32 or float64");
}

// H x W or H x W x C array -> rows, cols, channels and byte strides (C = 1 for H x W).
struct Strided {
  int rows, cols, channels;
  std::ptrdiff_t row_stride, col_stride, chan_stride;
};

Strided strided(const py::array& a, const char* what) {
  if (a.ndim() != 2 && a.ndim() != 3) throw py::value_error(std::string(what) + " must be H x W or H x W x C");
  Strided s{};
  s.rows = static_cast<int>(a.shape(0));
  s.cols = static_cast<int>(a.shape(1));
  s.channels = a.ndim() == 3 ? static_cast<int>(a.shape(2)) : 1;
  s.row_stride = a.strides(0);
  s.col_stride = a.strides(1);
  s.chan_stride = a.ndim() == 3 ? a.strides(2) : 0;
  return s;
}

// pre_upsample: 0, or the scale of a network that keeps its input's size (SRCNN; Network::run_frame).
void check_pre_upsample(const Network& net, int pre_upsample) {
  if (pre_upsample == 0) return;
  if (pre_upsample < 2 || pre_upsample > kMaxScale)
    throw py::value_error("pre_upsample must be 0 or in [2, " + std::to_string(kMaxScale) + "]");
  if (net.tails() != 1 || net.scale(0) != 1)
    throw py::value_error("pre_upsample needs a network that keeps its input's size (SRCNN)");
}

// Runs the network on image (any layout/strides, see frame.h) into outputs[t] (or None), each exactly
// the image's dtype and layout at scale(t), or at pre_upsample (> 0: SRCNN, see Network::run_frame).
void run_frame(const Network& net, const py::array& image, const py::list& outputs, bool bgr, int threads,
               int tile_rows, int tile_cols, const py::object& isa, int pre_upsample) {
  if (threads < 1) throw py::value_error("threads must be >= 1");
  check_pre_upsample(net, pre_upsample);
  if (tile_rows < 0 || tile_cols < 0) throw py::value_error("tile sizes must be >= 0 (0: automatic)");
  const Strided in = strided(image, "image");
  if (in.rows < 1 || in.cols < 1) throw py::value_error("image must not be empty");
  if (in.channels != 1 && in.channels != 3 && in.channels != 4) throw py::value_error("image must have 1, 3 or 4 channels");
  if (static_cast<int>(outputs.size()) != net.tails()) throw py::value_error("one output (or None) per scale");
  fsrcnn::FrameImage img;
  img.data = static_cast<const unsigned char*>(image.data());
  img.type = sample_of(image.dtype(), "image");
  img.rows = in.rows;
  img.cols = in.cols;
  img.channels = in.channels;
  img.row_stride = in.row_stride;
  img.col_stride = in.col_stride;
  img.chan_stride = in.chan_stride;
  img.bgr = bgr;
  std::vector<fsrcnn::FrameOutput> outs(net.tails());
  std::vector<py::array> keep;
  for (int t = 0; t < net.tails(); ++t) {
    if (outputs[t].is_none()) continue;
    if (!py::isinstance<py::array>(outputs[t])) throw py::type_error("out must be a numpy array");
    py::array o = py::reinterpret_borrow<py::array>(outputs[t]);
    if (!o.dtype().equal(image.dtype())) throw py::type_error("out must have the image's dtype");
    if (o.ndim() != image.ndim()) throw py::value_error("out must have the image's number of dimensions");
    const Strided os = strided(o, "out");
    const long long s = pre_upsample ? pre_upsample : net.scale(t);
    if (os.rows != in.rows * s || os.cols != in.cols * s || os.channels != in.channels)
      throw py::value_error("out has the wrong shape");
    if (!o.writeable()) throw py::value_error("out must be writeable");
    outs[t] = {static_cast<unsigned char*>(o.mutable_data()), os.row_stride, os.col_stride, os.chan_stride};
    keep.push_back(o);
  }
  fsrcnn::CancelFlag cancel{false};
  const fsrcnn::RunOptions options{threads, tile_rows, tile_cols, table_for(isa), &cancel};
  run_interruptible([&] { net.run_frame(img, outs, options, pre_upsample); }, cancel);
}

// ---- regions of a larger image (engine/network.h, Region) ----

// The region and the part's position, checked for what C++ cannot catch later (sizes of Python ints).
fsrcnn::Region region_of(std::array<long long, 2> full_shape, std::array<long long, 2> origin,
                         std::array<long long, 4> region, long long part_rows, long long part_cols) {
  const long long limit = fsrcnn::kMaxSide;
  for (long long v : full_shape)
    if (v < 1 || v > limit) throw py::value_error("full_shape must be in [1, max_side]");
  for (long long v : region)
    if (v < 0 || v > limit) throw py::value_error("region out of range");
  for (long long v : origin)
    if (v < 0 || v > limit) throw py::value_error("origin out of range");
  if (origin[0] + part_rows > full_shape[0] || origin[1] + part_cols > full_shape[1])
    throw py::value_error("the part given reaches beyond full_shape");
  return fsrcnn::Region{static_cast<int>(region[0]), static_cast<int>(region[1]), static_cast<int>(region[2]),
                        static_cast<int>(region[3]), static_cast<int>(origin[0]), static_cast<int>(origin[1]),
                        static_cast<int>(part_rows), static_cast<int>(part_cols)};
}

// run() of one region: part holds image rows / columns from origin; returns the region's output.
py::array_t<float> run_region(const Network& net, const py::object& part, std::array<long long, 2> full_shape,
                              std::array<long long, 2> origin, std::array<long long, 4> region, int threads, int tail,
                              const py::object& isa) {
  const FloatArray in = checked_input(part, threads, 0, 0);
  if (tail < 0 || tail >= net.tails()) throw py::value_error("tail index out of range");
  const fsrcnn::Region r = region_of(full_shape, origin, region, in.shape(0), in.shape(1));
  fsrcnn::CancelFlag cancel{false};
  fsrcnn::RunOptions options{threads, 0, 0, table_for(isa), &cancel};
  options.region = &r;
  const py::ssize_t s = net.scale(tail);
  py::array_t<float> result;
  std::vector<float*> outputs(net.tails(), nullptr);
  const py::ssize_t out_rows = std::max(0, r.row1 - r.row0) * s, out_cols = std::max(0, r.col1 - r.col0) * s;
  outputs[tail] = output_buffer(py::none(), result, out_rows, out_cols);
  run_interruptible(
      [&] { net.run(in.data(), static_cast<int>(full_shape[0]), static_cast<int>(full_shape[1]), outputs, options); },
      cancel);
  return result;
}

// run_frame() of one region: image holds rows / columns from origin of an image of full_shape; out
// (the image's dtype and channels) receives the region's output at scale(tail).
void run_frame_region(const Network& net, const py::array& image, const py::array& out, int tail, bool bgr,
                      std::array<long long, 2> full_shape, std::array<long long, 2> origin,
                      std::array<long long, 4> region, int threads, const py::object& isa, int pre_upsample) {
  if (threads < 1) throw py::value_error("threads must be >= 1");
  if (tail < 0 || tail >= net.tails()) throw py::value_error("tail index out of range");
  check_pre_upsample(net, pre_upsample);
  const Strided in = strided(image, "image");
  if (in.rows < 1 || in.cols < 1) throw py::value_error("image must not be empty");
  if (in.channels != 1 && in.channels != 3 && in.channels != 4) throw py::value_error("image must have 1, 3 or 4 channels");
  const fsrcnn::Region r = region_of(full_shape, origin, region, in.rows, in.cols);
  fsrcnn::FrameImage img;
  img.data = static_cast<const unsigned char*>(image.data());
  img.type = sample_of(image.dtype(), "image");
  img.rows = static_cast<int>(full_shape[0]);
  img.cols = static_cast<int>(full_shape[1]);
  img.channels = in.channels;
  img.row_stride = in.row_stride;
  img.col_stride = in.col_stride;
  img.chan_stride = in.chan_stride;
  img.bgr = bgr;
  if (!out.dtype().equal(image.dtype())) throw py::type_error("out must have the image's dtype");
  if (out.ndim() != image.ndim()) throw py::value_error("out must have the image's number of dimensions");
  const Strided os = strided(out, "out");
  const int s = pre_upsample ? pre_upsample : net.scale(tail);
  if (os.rows != std::max(0, r.row1 - r.row0) * s || os.cols != std::max(0, r.col1 - r.col0) * s ||
      os.channels != in.channels)
    throw py::value_error("out has the wrong shape");
  if (!out.writeable()) throw py::value_error("out must be writeable");
  std::vector<fsrcnn::FrameOutput> outs(net.tails());
  py::array keep = out;
  outs[tail] = {static_cast<unsigned char*>(keep.mutable_data()), os.row_stride, os.col_stride, os.chan_stride};
  fsrcnn::CancelFlag cancel{false};
  fsrcnn::RunOptions options{threads, 0, 0, table_for(isa), &cancel};
  options.region = &r;
  run_interruptible([&] { net.run_frame(img, outs, options, pre_upsample); }, cancel);
}

// Kernel tests: one frame kernel of one ISA on one row.
fsrcnn::kernels::UnpackRow unpack_proto(bool bgr) {
  fsrcnn::FrameImage img;
  img.channels = 3;
  img.bgr = bgr;
  return fsrcnn::FrameJob(img, {fsrcnn::FrameOutput{}}, {2}).unpack;  // no output: only the matrices are used
}

py::array_t<float> unpack_row(const std::string& isa, const py::array& row, bool bgr, const std::vector<bool>& want) {
  const fsrcnn::KernelTable& table = *table_for(py::str(isa));
  if (row.ndim() != 1 && row.ndim() != 2) throw py::value_error("row must be W or W x C");
  fsrcnn::kernels::UnpackRow r = unpack_proto(bgr);
  r.src = static_cast<const unsigned char*>(row.data());
  r.type = sample_of(row.dtype(), "row");
  r.cols = static_cast<int>(row.shape(0));
  r.channels = row.ndim() == 2 ? static_cast<int>(row.shape(1)) : 1;
  if (r.channels != 1 && r.channels != 3 && r.channels != 4) throw py::value_error("1, 3 or 4 channels");
  r.col_stride = row.strides(0);
  r.chan_stride = row.ndim() == 2 ? row.strides(1) : 0;
  if (want.size() != 4) throw py::value_error("want: y, cb, cr, alpha");
  py::array_t<float> out({4, r.cols});
  std::fill(out.mutable_data(), out.mutable_data() + out.size(), -7.0f);  // untouched planes stay -7
  float* planes[4];
  for (int p = 0; p < 4; ++p) planes[p] = want[p] ? out.mutable_data(p, 0) : nullptr;
  r.y = planes[0];
  r.cb = planes[1];
  r.cr = planes[2];
  r.alpha = r.channels == 4 ? planes[3] : nullptr;
  table.unpack_ycbcr_row(r);
  return out;
}

py::array_t<float> bicubic_cols(const std::string& isa, const py::object& src, const py::object& index,
                                const py::object& weight) {
  const fsrcnn::KernelTable& table = *table_for(py::str(isa));
  const FloatArray x = as_float32(src, "src", 2);
  const FloatArray w = as_float32(weight, "weight", 2);
  const auto idx = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>::ensure(index);
  if (!idx || idx.ndim() != 2 || idx.shape(0) != w.shape(0) || idx.shape(1) != w.shape(1))
    throw py::value_error("index and weight must be [taps][cols]");
  if (x.shape(0) < 1 || x.shape(0) > 3 || w.shape(0) > fsrcnn::kernels::kMaxTaps) throw py::value_error("1..3 planes");
  for (py::ssize_t i = 0; i < idx.size(); ++i)
    if (idx.data()[i] < 0 || idx.data()[i] >= x.shape(1)) throw py::value_error("index out of range");
  const int planes = static_cast<int>(x.shape(0)), cols = static_cast<int>(w.shape(1));
  py::array_t<float> out({planes, cols});
  // Rows padded as the kernel contract asks (8 readable floats past the last source), NaN-filled:
  // a kernel that used the padding would show it.
  const std::size_t stride = static_cast<std::size_t>(x.shape(1)) + 8;
  std::vector<float> padded(planes * stride, std::numeric_limits<float>::quiet_NaN());
  for (int p = 0; p < planes; ++p) std::copy(x.data(p, 0), x.data(p, 0) + x.shape(1), padded.begin() + p * stride);
  fsrcnn::kernels::BicubicColsRow r{};
  for (int p = 0; p < planes; ++p) {
    r.src[p] = padded.data() + p * stride;
    r.dst[p] = out.mutable_data(p, 0);
  }
  r.planes = planes;
  r.cols = cols;
  r.taps = static_cast<int>(w.shape(0));
  r.index = idx.data();
  r.weight = w.data();
  r.tap_stride = cols;
  table.bicubic_cols_row(r);
  return out;
}

py::array_t<float> bicubic_rows(const std::string& isa, const py::object& rows, const std::vector<float>& weight) {
  const fsrcnn::KernelTable& table = *table_for(py::str(isa));
  const FloatArray x = as_float32(rows, "rows", 2);
  if (static_cast<py::ssize_t>(weight.size()) != x.shape(0) || x.shape(0) < 1 || x.shape(0) > fsrcnn::kernels::kMaxTaps)
    throw py::value_error("one weight per row, 1..8 rows");
  fsrcnn::kernels::BicubicRowsRow r{};
  r.taps = static_cast<int>(x.shape(0));
  r.cols = static_cast<int>(x.shape(1));
  for (int t = 0; t < r.taps; ++t) {
    r.rows[t] = x.data(t, 0);
    r.weight[t] = weight[t];
  }
  py::array_t<float> out(r.cols);
  r.dst = out.mutable_data();
  table.bicubic_rows_row(r);
  return out;
}

// planes [4][W] (y, cb, cr, alpha) -> out (W or W x C, any strides, any of the four dtypes).
void pack_row(const std::string& isa, const py::object& planes, py::array out, bool bgr) {
  const fsrcnn::KernelTable& table = *table_for(py::str(isa));
  const FloatArray p = as_float32(planes, "planes", 2);
  if (out.ndim() != 1 && out.ndim() != 2) throw py::value_error("out must be W or W x C");
  if (!out.writeable()) throw py::value_error("out must be writeable");
  fsrcnn::FrameImage img;
  img.channels = out.ndim() == 2 ? static_cast<int>(out.shape(1)) : 1;
  if (img.channels != 1 && img.channels != 3 && img.channels != 4) throw py::value_error("1, 3 or 4 channels");
  if (p.shape(0) != 4 || p.shape(1) != out.shape(0)) throw py::value_error("planes must be [4][W]");
  img.type = sample_of(out.dtype(), "out");
  img.bgr = bgr;
  img.chan_stride = out.ndim() == 2 ? out.strides(1) : 0;
  fsrcnn::kernels::PackRow r = fsrcnn::FrameJob(img, {fsrcnn::FrameOutput{}}, {2}).pack;
  r.y = p.data(0, 0);
  r.cb = p.data(1, 0);
  r.cr = p.data(2, 0);
  r.alpha = p.data(3, 0);
  r.dst = static_cast<unsigned char*>(out.mutable_data());
  r.col_stride = out.strides(0);
  r.chan_stride = img.chan_stride;
  r.cols = static_cast<int>(out.shape(0));
  table.pack_row(r);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fsrcnn_fast engine (internal; use the fsrcnn_fast package)";
  // The engine's inputs as typed objects (not positional tuples): each checked once, at construction.
  py::class_<ConvLayer>(m, "ConvLayer")
      .def(py::init(&make_conv), py::arg("weight"), py::arg("bias"), py::arg("slope"), py::arg("activation"),
           py::arg("border"))
      .def_readonly("k", &ConvLayer::k)
      .def_readonly("cin", &ConvLayer::cin)
      .def_readonly("cout", &ConvLayer::cout);
  py::class_<Tail>(m, "Tail")
      .def(py::init(&make_checked_tail), py::arg("kind"), py::arg("weight"), py::arg("bias"), py::arg("scale"),
           py::arg("offset"), py::arg("border"))
      .def_readonly("k", &Tail::k)
      .def_readonly("scale", &Tail::scale)
      .def_readonly("offset", &Tail::offset);
  py::class_<Network>(m, "Network")
      .def(py::init([](std::vector<ConvLayer> layers, std::vector<Tail> tails, int winograd) {
             return Network(std::move(layers), std::move(tails), winograd);
           }),
           py::arg("layers"), py::arg("tails"), py::arg("winograd") = -1)
      .def_property_readonly("scale", [](const Network& net) { return net.scale(0); })
      .def_property_readonly("scales", [](const Network& net) {
        std::vector<int> out;
        for (int t = 0; t < net.tails(); ++t) out.push_back(net.scale(t));
        return out;
      })
      .def_property_readonly("winograd_layers", [](const Network& net) {
        std::vector<int> out;  // the shared layers, then each tail
        for (const auto& c : net.convs()) out.push_back(c.wino);
        for (const auto& c : net.tail_convs()) out.push_back(c.wino);
        return out;
      })
      // Scratch memory kept for the next calls (csrc/engine/scratch_memory.h), for the tests.
      .def_property_readonly("scratch_cached_bytes", [](const Network& net) { return net.scratch_cached_bytes(); })
      .def("run", &run, py::arg("image"), py::arg("threads"), py::arg("tile_rows") = 0, py::arg("tile_cols") = 0,
           py::arg("isa") = py::none(), py::arg("out") = py::none(), py::arg("tail") = 0)
      .def("run_all", &run_all, py::arg("image"), py::arg("threads"), py::arg("tile_rows") = 0,
           py::arg("tile_cols") = 0, py::arg("isa") = py::none())
      .def("run_frame", &run_frame, py::arg("image"), py::arg("outputs"), py::arg("bgr"), py::arg("threads"),
           py::arg("tile_rows") = 0, py::arg("tile_cols") = 0, py::arg("isa") = py::none(), py::arg("pre_upsample") = 0)
      .def("run_region", &run_region, py::arg("part"), py::arg("full_shape"), py::arg("origin"), py::arg("region"),
           py::arg("threads"), py::arg("tail") = 0, py::arg("isa") = py::none())
      .def("run_frame_region", &run_frame_region, py::arg("image"), py::arg("out"), py::arg("tail"), py::arg("bgr"),
           py::arg("full_shape"), py::arg("origin"), py::arg("region"), py::arg("threads"), py::arg("isa") = py::none(),
           py::arg("pre_upsample") = 0)
      .def("needed_input",
           [](const Network& net, std::array<long long, 2> full_shape, std::array<long long, 4> region, bool colour,
              int pre_upsample) {
             check_pre_upsample(net, pre_upsample);
             const fsrcnn::Region r = region_of(full_shape, {0, 0}, region, 0, 0);
             if (!(r.row0 < r.row1 && r.row1 <= full_shape[0] && r.col0 < r.col1 && r.col1 <= full_shape[1]))
               throw py::value_error("region must be a non-empty part of the image");
             const fsrcnn::Box b = net.needed_input(static_cast<int>(full_shape[0]), static_cast<int>(full_shape[1]),
                                                    fsrcnn::Box{r.row0, r.row1, r.col0, r.col1}, colour, pre_upsample);
             return std::array<int, 4>{b.row0, b.row1, b.col0, b.col1};
           },
           py::arg("full_shape"), py::arg("region"), py::arg("colour"), py::arg("pre_upsample") = 0)
      .def_property_readonly("halo", [](const Network& net) { return net.halo(); })
      .def(
          "halo_of",
          [](const Network& net, int pre_upsample) {
            check_pre_upsample(net, pre_upsample);
            return net.halo(pre_upsample);
          },
          py::arg("pre_upsample"), "halo of run_frame's pre-upsampling run (image pixels)");
  fsrcnn::init_default_isa();
  m.def("isa", []() { return std::string(fsrcnn::isa_name(fsrcnn::default_table().isa)); },
        "The ISA chosen at import");
  m.def("isa_note", &fsrcnn::default_isa_note);
  m.def("supported_isas", []() {
    std::vector<std::string> out;
    for (auto isa : fsrcnn::supported_isas()) out.emplace_back(fsrcnn::isa_name(isa));
    return out;
  });
  m.def("kernel_names", []() {
    std::vector<std::string> out;
#define FSRCNN_KERNEL(name, args) out.emplace_back(#name);
#define FSRCNN_IMPL(name, isa)
#include "../kernels/kernels.inc"
#undef FSRCNN_KERNEL
#undef FSRCNN_IMPL
    return out;
  });
  m.def("_conv_valid", &conv_valid, py::arg("isa"), py::arg("input"), py::arg("weight"), py::arg("bias"),
        py::arg("slope"), py::arg("activation"), py::arg("reorder") = false, py::arg("winograd") = 0);
  m.def("resize", &resize, py::arg("planes"), py::arg("row_index"), py::arg("row_weight"), py::arg("col_index"),
        py::arg("col_weight"), py::arg("threads"), py::arg("out") = py::none(),
        "Separable resampling of [C][H][W] float32 planes with precomputed taps (indices and weights)");
  m.def("_unpack_row", &unpack_row, py::arg("isa"), py::arg("row"), py::arg("bgr"), py::arg("want"));
  m.def("_bicubic_cols", &bicubic_cols, py::arg("isa"), py::arg("src"), py::arg("index"), py::arg("weight"));
  m.def("_bicubic_rows", &bicubic_rows, py::arg("isa"), py::arg("rows"), py::arg("weight"));
  m.def("_pack_row", &pack_row, py::arg("isa"), py::arg("planes"), py::arg("out"), py::arg("bgr"));
  m.def("_bicubic_taps", [](int in_len, int scale) {
    if (in_len < 1 || scale < 1 || scale > 16) throw py::value_error("in_len >= 1, scale in [1, 16]");
    const fsrcnn::BicubicTaps t = fsrcnn::bicubic_taps(in_len, scale);
    py::array_t<std::int32_t> index({t.taps, t.out_len});
    py::array_t<float> weight({t.taps, t.out_len});
    std::copy(t.index.begin(), t.index.end(), index.mutable_data());
    std::copy(t.weight.begin(), t.weight.end(), weight.mutable_data());
    return py::make_tuple(index, weight);
  }, py::arg("in_len"), py::arg("scale"), "MATLAB imresize bicubic taps for upscaling: (index, weight) [taps][out]");
  m.def("ycbcr_matrices", []() {
    float to_ycbcr[3][3], offset[3], to_rgb[3][3];
    fsrcnn::ycbcr_matrices(to_ycbcr, offset, to_rgb);
    py::array_t<float> a({3, 3}), o(3), b({3, 3});
    std::copy(&to_ycbcr[0][0], &to_ycbcr[0][0] + 9, a.mutable_data());
    std::copy(offset, offset + 3, o.mutable_data());
    std::copy(&to_rgb[0][0], &to_rgb[0][0] + 9, b.mutable_data());
    return py::make_tuple(a, o, b);
  }, "(RGB -> YCbCr matrix, YCbCr offset, YCbCr -> RGB matrix) as the frame kernels use them, float32");
  py::dict limits;
  limits["max_side"] = fsrcnn::kMaxSide;
  limits["max_scale"] = kMaxScale;
  limits["min_offset"] = kMinOffset;
  limits["max_offset"] = kMaxOffset;
  limits["region_align"] = fsrcnn::kRegionAlign;
  m.attr("limits") = limits;
  m.def(
      "fma_peak_gflops",
      [](double seconds) {
        py::gil_scoped_release release;
        return fsrcnn::bench::fma_peak_gflops(seconds);
      },
      py::arg("seconds") = 0.2, "Single-core AVX2 FMA peak in GFLOP/s (0 without AVX2)");
  m.def("threading_runtime", []() { return std::string(fsrcnn::threading_runtime()); });
  m.def("_pool_threads", &fsrcnn::pool_threads, "Worker threads the engine's pool has started (tests)");
}
