/*
 * shard_local.h: the shards of the distributed layout placed on this node, and statements
 * rewritten to run on them (doc/scale-out.md, "Senders on every node").
 */
#ifndef PUSHPLAN_SHARD_LOCAL_H
#define PUSHPLAN_SHARD_LOCAL_H

/* reads the layout and this node's shards again if older than 10 s (or force); SPI connected */
extern void pp_shards_refresh(bool force);

/* as of the last refresh: the install is distributed */
extern bool pp_shards_distributed(void);

/* a single node, or the coordinator of a distributed install: its scheduler serves the cluster */
extern bool pp_shards_serve_cluster(void);

/* the colocated shard groups (hash ranges) placed on this node */
extern int	pp_shards_local_count(void);

/* the local shard group holding device_id, or -1 when its shard is on another node */
extern int	pp_shard_of_device(int64 device_id);

/* the identity of local shard group `group`: its delivery_queue shard's id */
extern int64 pp_shard_group_id(int group);

/*
 * sql with every pushplan.<table> of a Citus table replaced by its shard in group (a local
 * shard group, or -1 for reference tables only); a copy of sql when not distributed
 */
extern char *pp_shard_sql(const char *sql, int group);

/*
 * the local shard group whose statements run now (a node's expansion: src/task_expand.c), or
 * -1: the functions those statements call (intelligent send times) read that group's shards
 */
extern int	pp_shard_statement_group;

/*
 * whether this sender may claim from local group `group` now; if so the group is held against
 * a shard move (Citus' metadata lock, a session lock) until released; in a transaction
 */
extern bool pp_shard_group_hold(int group);

/* releases the held groups g with busy[g] false (all of them when busy is NULL) */
extern void pp_shard_holds_release(const bool *busy);

/* how many groups are held */
extern int	pp_shard_holds_count(void);

#endif							/* PUSHPLAN_SHARD_LOCAL_H */
