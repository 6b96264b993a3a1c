/* Private: TensorBoard event files (never installed).
 *
 * A writer appends `Event` protocol buffers, framed as TFRecords, to
 * DIR/events.out.tfevents.<unix seconds>.<hostname>.<pid>.<n>, the layout
 * that TensorBoard (and Keras' TensorBoard callback) uses: one folder per run
 * (logs/train, logs/validation), scalars under tags such as "epoch_loss".
 *
 * These functions are internal to libkcv (hidden, like util-impl.h); the
 * tests compile core/tb_events.c into their own program to reach them.
 *
 * A writer is owned by one thread. */
#ifndef KCV_TB_IMPL_H
#define KCV_TB_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <kcv/error.h>

typedef struct kcv_tb_writer kcv_tb_writer;

/* Create `dir` (mkdir -p) and a new event file in it, and write the first
 * event (wall time, file_version "brain.Event:2"). The file name is
 * events.out.tfevents.<unix seconds>.<hostname>.<pid>.<n> with the smallest
 * n >= 0 that does not exist yet (created with O_EXCL, so two writers never
 * share a file). NULL on failure (the error names the folder or file).
 * Caller frees with kcv_tb_writer_free(). */
KCV_WARN_UNUSED kcv_tb_writer *kcv_tb_writer_new(const char *dir, kcv_error *err);

/* Flush and close the file, free the writer. NULL is a no-op. Errors are
 * lost: call kcv_tb_writer_flush() first to see them. */
void kcv_tb_writer_free(kcv_tb_writer *w);

/* Path of the event file (borrowed, valid until kcv_tb_writer_free). */
const char *kcv_tb_writer_path(const kcv_tb_writer *w);

/* Append one event {wall_time = now (seconds since the epoch), step,
 * summary {value {tag, simple_value = (float)value}}}. The first value of a
 * tag also carries metadata {plugin_data {plugin_name "scalars"}}, as
 * tf.summary does. `tag`: non-empty UTF-8 (e.g. "epoch_loss"); `step`: the
 * x axis (epoch or batch). The record is handed to the kernel (fflush) so a
 * running TensorBoard sees it; KCV_ERR_IO names the file. */
KCV_WARN_UNUSED kcv_status kcv_tb_writer_add_scalar(kcv_tb_writer *w, const char *tag,
                                                    int64_t step, double value,
                                                    kcv_error *err);

/* The same with an explicit wall time (seconds since the epoch). */
KCV_WARN_UNUSED kcv_status kcv_tb_writer_add_scalar_at(kcv_tb_writer *w, const char *tag,
                                                       int64_t step, double value,
                                                       double wall_time, kcv_error *err);

/* fflush + fsync: the events written so far are on disk. */
KCV_WARN_UNUSED kcv_status kcv_tb_writer_flush(kcv_tb_writer *w, kcv_error *err);

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of `size` bytes. */
uint32_t kcv_tb_crc32c(const void *data, size_t size);

/* The TFRecord mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
uint32_t kcv_tb_crc_mask(uint32_t crc);

#endif
