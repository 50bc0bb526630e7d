/* Every layer kind the model knows: a new kind is a file in src/layers/ and a
 * line here. */
#include "../model.h"

const layer_ops *const layer_kinds[] = {&layer_lstm, &layer_dense,      &layer_dropout,
                                        &layer_gru,  &layer_simple_rnn, &layer_custom,
                                        &layer_embedding,
                                        &layer_masking,
                                        &layer_bidirectional,
                                        NULL};
