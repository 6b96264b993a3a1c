/* kcv — object detection in C: the umbrella header. */
#ifndef KCV_KCV_H
#define KCV_KCV_H

#include <kcv/boxes.h>
#include <kcv/cocoeval.h>
#include <kcv/train.h>
#include <kcv/common.h>
#include <kcv/error.h>
#include <kcv/graph.h>
#include <kcv/image.h>
#include <kcv/loader.h>
#include <kcv/log.h>
#include <kcv/optim.h>
#include <kcv/pipeline.h>
#include <kcv/plugin.h>
#include <kcv/registry.h>
#include <kcv/rng.h>
#include <kcv/safetensors.h>
#include <kcv/version.h>

#endif /* KCV_KCV_H */
