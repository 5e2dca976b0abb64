#pragma once
// All of kiln::data in one include (see data/dataset.h for the map of the folder).
#include "data/dataset.h"
#include "data/files.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/plot.h"
#include "data/points.h"
#include "data/shapes.h"
