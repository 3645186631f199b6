// pybind11 layer: converts arrays, checks arguments, releases the GIL, calls the engine.
// No policy lives here: colour, dtype, weights and defaults are Python's.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "../engine/network.h"

namespace py = pybind11;
using fsrcnn::Border;
using fsrcnn::ConvLayer;
using fsrcnn::Network;
using fsrcnn::Tail;
using fsrcnn::TailKind;
using fsrcnn::kernels::Activation;

namespace {

using FloatArray = py::array_t<float, py::array::c_style>;

FloatArray as_float32(const py::handle& obj, const char* what, int ndim) {
  if (!py::isinstance<py::array>(obj)) throw py::type_error(std::string(what) + " must be a numpy array");
  auto arr = py::reinterpret_borrow<py::array>(obj);
  if (!arr.dtype().is(py::dtype::of<float>()))
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

// conv: (weight OIHW, bias [cout], slope [cout] or [0], activation, border)
ConvLayer make_conv(const py::tuple& t, std::size_t index) {
  const std::string name = "layer " + std::to_string(index);
  if (t.size() != 5) throw py::value_error(name + ": expected (weight, bias, slope, activation, border)");
  const FloatArray w = as_float32(t[0], (name + " weight").c_str(), 4);
  if (w.shape(2) != w.shape(3)) throw py::value_error(name + ": kernel must be square");
  ConvLayer l;
  l.cout = static_cast<int>(w.shape(0));
  l.cin = static_cast<int>(w.shape(1));
  l.k = static_cast<int>(w.shape(2));
  l.weight = to_vector(w);
  l.bias = to_vector(as_float32(t[1], (name + " bias").c_str(), 1));
  l.slope = to_vector(as_float32(t[2], (name + " slope").c_str(), 1));
  l.act = parse_activation(t[3].cast<std::string>());
  l.border = parse_border(t[4].cast<std::string>());
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

Network make_network(const py::list& layers, const std::string& tail_kind, const py::object& tail_weight,
                     const py::object& tail_bias, int scale, int offset, const std::string& tail_border) {
  std::vector<ConvLayer> convs;
  for (std::size_t i = 0; i < layers.size(); ++i) convs.push_back(make_conv(layers[i].cast<py::tuple>(), i));
  return Network(std::move(convs), make_tail(tail_kind, tail_weight, tail_bias, scale, offset, tail_border));
}

py::array_t<float> run(const Network& net, const py::object& image, int threads) {
  const FloatArray in = as_float32(image, "image", 2);
  if (in.shape(0) < 1 || in.shape(1) < 1) throw py::value_error("image must not be empty");
  if (in.shape(0) > (1 << 20) || in.shape(1) > (1 << 20)) throw py::value_error("image is too large");
  if (threads < 1) throw py::value_error("threads must be >= 1");
  const int rows = static_cast<int>(in.shape(0)), cols = static_cast<int>(in.shape(1));
  const py::ssize_t s = net.scale();
  py::array_t<float> result({rows * s, cols * s});
  float* out = result.mutable_data();
  {
    py::gil_scoped_release release;
    net.run(in.data(), rows, cols, out, threads);
  }
  return result;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fsrcnn_fast engine (internal; use the fsrcnn_fast package)";
  py::class_<Network>(m, "Network")
      .def(py::init(&make_network), py::arg("layers"), py::arg("tail_kind"), py::arg("tail_weight"),
           py::arg("tail_bias"), py::arg("scale"), py::arg("offset"), py::arg("tail_border"))
      .def_property_readonly("scale", &Network::scale)
      .def("run", &run, py::arg("image"), py::arg("threads"));
  m.def("openmp_enabled", []() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
  });
}
