/*
 * layout.h: which layout this install has (doc/scale-out.md).
 */
#ifndef PUSHPLAN_LAYOUT_H
#define PUSHPLAN_LAYOUT_H

/* true once push_distribute() made the distributed registry; the caller is connected to SPI */
extern bool pp_registry_distributed(void);

#endif							/* PUSHPLAN_LAYOUT_H */
