#include "data/dataset.h"

namespace kiln::data {

Dataset Dataset::slice(std::int64_t start, std::int64_t count) const {
  check("Dataset::slice");
  KILN_CHECK(start >= 0 && count >= 0 && start + count <= size(),
             "Dataset::slice: items [{}, {}) are outside the {} items of '{}'", start,
             start + count, size(), name);
  Dataset out = *this;
  out.images = images.narrow(0, start, count);
  if (labels.defined()) out.labels = labels.narrow(0, start, count);
  return out;
}

void Dataset::check(const char* where) const {
  KILN_CHECK(images.defined(), "{}: data set '{}' has no images", where, name);
  KILN_CHECK(images.dim() >= 2, "{}: data set '{}': images of shape {} must be [N, ...]",
             where, name, shape_str(images.shape()));
  KILN_CHECK(images.dtype() == kFloat32 && images.device().is_cpu(),
             "{}: data set '{}': images must be float32 on the CPU", where, name);
  if (labels.defined()) {
    KILN_CHECK(labels.dtype() == kInt64 && labels.dim() == 1 &&
                   labels.size(0) == images.size(0),
               "{}: data set '{}': labels of shape {} must be int64 [{}]", where, name,
               shape_str(labels.shape()), images.size(0));
  }
}

}  // namespace kiln::data
