/*
 * layout.h: which layout this install has (doc/scale-out.md).
 */
#ifndef PUSHPLAN_LAYOUT_H
#define PUSHPLAN_LAYOUT_H

/* true once push_distribute() made the distributed registry; the caller is connected to SPI */
extern bool pp_registry_distributed(void);

/*
 * The same, asked once a transaction (push_distribute is not run inside a push's
 * transaction): for the per-push choices of push_send's statements
 */
extern bool pp_registry_distributed_xact(void);

#endif							/* PUSHPLAN_LAYOUT_H */
