"""The names of our Redis keys. P is the prefix; every key of one queue carries the hash tag
{queue}, so a queue lives in one Redis Cluster slot and each function call touches one slot:

  P:{q}:job:<id>            hash: a job of the queue
  P:{q}:key:<key>           string: id of the queue's job holding a dedup key
  P:{q}:window:<key>        string: id of the job that opened a dedup window (PX: its length)
  P:{q}:prios               sorted set: priority levels with waiting jobs
  P:{q}:ready:<priority>    sorted set: waiting jobs (queued or scheduled) by due time
  P:{q}:leases              sorted set: running jobs by lease expiry
  P:{q}:done:<state>        sorted set: finished jobs by retention expiry (+inf: kept)
  P:{q}:ix:<group>          sorted sets: job ids for listing (all, waiting: queued or
                            scheduled, blocked: in state waiting on others, and each end)
  P:{q}:recent, :minutes    list and hash: recent attempts and per-minute counts
  P:{q}:seconds:<minute>    hash: per-second counts of one minute (expires after an hour)
  P:{q}:wake                list: tokens that wake blocked workers
  P:{q}:waiters             sorted set: jobs someone waits for, until when (see listen.py)
  P:{q}:paused              string: the queue is paused (claims take nothing from it)
  P:{q}:listed              string: the queue is in P:queues (enqueue lists it again if not)
  P:{q}:running:<lkey>      set: running jobs holding a slot of a limit key
  P:{q}:starts:<rkey>       sorted set: the latest starts of a rate key ('id:attempt')
  P:{q}:held:<kind>:<priority>:<key>  sorted set: due jobs a claim (or, for a limit key
                            behind a backlog, the enqueue) set aside for a limit or rate
                            key (kind 'limit' or 'rate'), by due time
  P:{q}:held-prios:<kind>:<key>  sorted set: priority levels with such jobs
  P:{q}:held                sorted set: every held job of the queue, by due time
  P:{q}:flow                hash: the numbers releases use, per key with held jobs
  P:{q}:opens               sorted set: rate keys with held jobs, by their next opening
  P:{q}:backlog:<lkey>      hash: per priority, the jobs of a limit key enqueues made ready
                            since a slot of it freed (an enqueue sets aside those beyond)
  P:{q}:backlogs            set: the limit keys with such a hash
  P:{q}:bm:<b>, :bw:<b>, :bc:<b>, :bdirty, :bfired:<b>:<kind>  a batch's part on the queue
  P:{q}:dependents:<id>     hash: the jobs waiting on a job of the queue (id -> their queue),
                            and '@end' -> the state it ended in, until they are judged
  P:{q}:ddirty              sorted set: ended jobs of the queue whose dependents are not
                            judged yet, by when they ended
  P:{q}:tasks               hash: task name -> spec, the registry's copy in the queue's slot
                            (see registry.py), read by taskrunner_enqueue
  P:{q}:idclock             hash: the millisecond and counter of the last id taskrunner_enqueue
                            made on the queue (expires after an hour)
  P:{q}:pending:<id>        set: the dependencies a waiting job of the queue still waits on
  P:{q}:early:<id>          hash: dependency id -> end state, for ends judged before the job
                            itself was stored (expires after a day)
  P:{q}:absent, P:{@...}:absent  never written: every function call declares the one of its
                            slot beside its route key, so Redis holds it back while the slot
                            moves to another primary (see moving.py)
  P:{@b:<b>}:batch, :queues hash and set: a batch, and the queues it has parts on
  P:{@batches}:all, :closing, :expiring  sorted sets: the batches' indexes
  P:queues                  set: every queue name seen
  P:{@tasks}:specs          hash: the task registry, task name -> spec (see registry.py)
  P:{@workers}:info, :alive hash and sorted set: the live workers (no queue name has an @)
  channel P:finished        ids of finished jobs someone waits for
  channel P:cancels         ids of running jobs asked to stop (see listen.py)

The functions (library.py): the library taskrunner_<hash> holds the backend's own, one per
file of lua/ (taskrunner_<hash>_claim, ...); the library taskrunner holds the entry point
for other languages, `FCALL taskrunner_enqueue 1 P:{q}:prios <job JSON>` (lua/door.lua),
whose key is the queue's route key (`Keys.route`), and may be followed by the queue's
absent key.

lua/flow.lua says how the flow-control keys (limits and rates) are kept; lua/batch.lua and
batches.py how the batches' keys are; lua/deps.lua and dependencies.py how the
dependencies' are. A job waiting on others also keeps `after`, `after_anyway` and
`after_ttl` in its hash.
"""

from __future__ import annotations


class Keys:
    """Key names under one prefix."""

    __slots__ = ("channel", "prefix", "queues", "task_specs", "workers_alive", "workers_info")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.queues = f"{prefix}:queues"
        self.workers_info = f"{prefix}:{{@workers}}:info"
        self.workers_alive = f"{prefix}:{{@workers}}:alive"
        self.channel = f"{prefix}:finished"
        self.task_specs = f"{prefix}:{{@tasks}}:specs"

    def queue(self, queue: str, suffix: str) -> str:
        return f"{self.prefix}:{{{queue}}}:{suffix}"

    def job(self, queue: str, job_id: str) -> str:
        return f"{self.prefix}:{{{queue}}}:job:{job_id}"

    def part(self, queue: str, suffix: str, batch_id: str) -> str:
        """A key of a batch's part on a queue (suffix bm, bw or bc: see lua/batch.lua)."""
        return f"{self.prefix}:{{{queue}}}:{suffix}:{batch_id}"

    def batch(self, batch_id: str, suffix: str) -> str:
        """A key of a batch's own (suffix batch or queues), in its own slot."""
        return f"{self.prefix}:{{@b:{batch_id}}}:{suffix}"

    def batches(self, suffix: str) -> str:
        """A key of the batches' indexes (suffix all, closing or expiring)."""
        return f"{self.prefix}:{{@batches}}:{suffix}"

    def route(self, queue: str) -> str:
        """The key a queue's function calls declare, so a cluster client sends them to its
        node (taskrunner_enqueue takes it too)."""
        return f"{self.prefix}:{{{queue}}}:prios"

    @property
    def cancels(self) -> str:
        """The pub/sub channel of cancel requests for running jobs."""
        return f"{self.prefix}:cancels"
