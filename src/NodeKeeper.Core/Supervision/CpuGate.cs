namespace NodeKeeper.Core.Supervision;

/// <summary>
/// How many processes the daemon sets to work on the CPU at once, daemon-wide: one gate for starts, one for stop
/// signals, one for the drains of shared-port instances before theirs.
/// Starting a node process is a burst of CPU (50-130 ms); a hundred started together make a run queue of hundreds of
/// threads on a few cores, where each of them, the daemon and every `nk` command wait their turn, and an app's readiness
/// is late for no fault of its own. Stopping is the same in small: a node process that gets SIGTERM runs its handlers
/// and tears down its heap, and 300 signalled at once put 100-160 threads in the run queue of 2 cores, where an `nk
/// status` waited 0.7-1.4 s (measured). Through a gate at most <see cref="Width"/> processes start (or stop) at a time
/// (two per core: the cores stay busy and the queue stays short), which starts a hundred apps as fast as all at once or
/// faster (measured: 3.5-3.7 s against 3.9-4.1 s for 100 bare node servers on 2 cores) while the machine stays
/// responsive.
/// </summary>
/// <remarks>
/// A slot is held from the grant until it is given back (the instance is ready, ended or stopped), or until its process
/// stops using the CPU: a process found idle at two checks in a row (<see cref="CheckEvery"/> apart; see the progress
/// function) is waiting on something else (a database, a file, the network, its last connections), and the next may go
/// meanwhile. A slot is never held longer than <see cref="MostHeld"/>. A request that nothing holds up is granted at once,
/// so a lone restart or stop never waits.
/// </remarks>
public sealed class CpuGate
{
    private readonly Func<int, long?> _progress;
    private readonly TimeProvider _clock;
    private readonly Lock _lock = new();
    private readonly LinkedList<Ticket> _waiting = new();
    private readonly HashSet<Ticket> _holding = [];
    private ITimer? _timer;

    /// <param name="width">Slots: processes that may start (stop) at once.</param>
    /// <param name="progress">Where a process stands, null when it is gone: a value that changes between two checks while
    /// the process runs or waits to run, and stays the same while it is idle.</param>
    /// <param name="checkEvery">How often the processes holding slots are looked at (100 ms when null).</param>
    /// <param name="mostHeld">The longest a slot is held (30 s when null).</param>
    public CpuGate(int width, Func<int, long?> progress, TimeProvider clock, TimeSpan? checkEvery = null, TimeSpan? mostHeld = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        Width = width;
        _progress = progress;
        _clock = clock;
        CheckEvery = checkEvery ?? TimeSpan.FromMilliseconds(100);
        MostHeld = mostHeld ?? TimeSpan.FromSeconds(30);
    }

    /// <summary>
    /// The gate for starts: a slot is held while the process runs or waits to run (its CPU time and run-queue wait grow,
    /// see <paramref name="progress"/>), for up to 30 s.
    /// </summary>
    public static CpuGate ForStarts(Func<int, long?> progress, TimeProvider clock) => new(DefaultWidth, progress, clock);

    /// <summary>
    /// The gate for stops: the signal of a stop waits for a slot, held until the process has ended or is found asleep at
    /// two looks 10 ms apart (a graceful app waiting for its last connections leaves its place to the next at once), for
    /// up to <see cref="StopMostHeld"/>: an app that spins in its signal handler holds up the others a quarter of a
    /// second, not until its kill_timeout.
    /// </summary>
    /// <param name="runnable">Whether a process's main thread runs or waits to run now; null when it is gone.</param>
    /// <param name="width">How many at a time: <see cref="StopWidth"/> unless said.</param>
    public static CpuGate ForStops(Func<int, bool?> runnable, TimeProvider clock, int? width = null)
    {
        long looks = 0;
        // Runnable: a value never seen before (never "the same"); asleep: the same value each time.
        return new(width ?? StopWidth, pid => runnable(pid) switch { null => null, true => Interlocked.Increment(ref looks), false => 0 },
            clock, TimeSpan.FromMilliseconds(10), StopMostHeld);
    }

    public static readonly TimeSpan StopMostHeld = TimeSpan.FromMilliseconds(250);

    /// <summary>Two per core, at least two.</summary>
    public static int DefaultWidth => Math.Max(2, 2 * Environment.ProcessorCount);

    /// <summary>
    /// Signals at a time: one per core but one, at least one. A node process's exit takes 13-15 ms of CPU whatever
    /// supervises it; four at a time on 2 cores ended 100 of them in 1.0 s and left no core to the daemon, `nk` and the
    /// apps serving (the slowest `nk status` meanwhile 150-155 ms), one at a time in 1.8 s (35-52 ms).
    /// </summary>
    public static int StopWidth => Math.Max(1, Environment.ProcessorCount - 1);

    public int Width { get; }
    public TimeSpan CheckEvery { get; }
    public TimeSpan MostHeld { get; }

    /// <summary>Slots held now.</summary>
    public int Holding { get { lock (_lock) return _holding.Count; } }

    /// <summary>Requests waiting for a slot now.</summary>
    public int Waiting { get { lock (_lock) return _waiting.Count; } }

    /// <summary>A request for a slot, and then the slot.</summary>
    public sealed class Ticket
    {
        internal Ticket(Action<Ticket> granted, Action<Ticket>? storm)
        {
            Granted = granted;
            StormBegun = storm;
        }
        internal Action<Ticket> Granted { get; }
        internal Action<Ticket>? StormBegun { get; }
        internal LinkedListNode<Ticket>? Node { get; set; }
        internal int? Pid { get; set; }
        internal long? Seen { get; set; }
        internal long HeldSince { get; set; }
        /// <summary>Whether the slot was granted (and not yet given back).</summary>
        public bool IsGranted { get; internal set; }
        /// <summary>
        /// Part of a storm: the request had to wait for its slot (every slot was taken, or others waited), or it held one
        /// when the first request had to wait.
        /// </summary>
        public bool Storm { get; internal set; }
    }

    /// <summary>Asks for a slot: <paramref name="granted"/> runs once one is free (at once when one is, on this thread;
    /// later on the thread that frees one). First come, first served. <paramref name="storm"/> runs (on the thread of the
    /// request that had to wait) when a storm begins while this request holds its slot; a request that waits is granted
    /// with <see cref="Ticket.Storm"/> set instead.</summary>
    public Ticket Request(Action<Ticket> granted, Action<Ticket>? storm = null)
    {
        var ticket = new Ticket(granted, storm);
        List<Ticket>? told = null;
        var now = false;
        lock (_lock)
        {
            if (_holding.Count >= Width || _waiting.Count > 0)
            {
                ticket.Storm = true;
                ticket.Node = _waiting.AddLast(ticket);
                foreach (var held in _holding.Where(t => !t.Storm))
                {
                    held.Storm = true;
                    if (held.StormBegun is not null) (told ??= []).Add(held);
                }
            }
            else
            {
                Hold(ticket);
                now = true;
            }
        }
        if (told is not null) foreach (var t in told) t.StormBegun!(t);
        if (now) granted(ticket);
        return ticket;
    }

    /// <summary>The slot's process was spawned: from now on it is freed when that process stops using the CPU.</summary>
    public void Watch(Ticket ticket, int pid)
    {
        lock (_lock)
        {
            if (!_holding.Contains(ticket)) return;
            ticket.Pid = pid;
            ticket.Seen = null;
            _timer ??= _clock.CreateTimer(_ => Check(), null, CheckEvery, CheckEvery);
        }
    }

    /// <summary>Gives the slot back (ready, ended, stopped) or withdraws the request; a second call does nothing.</summary>
    public void Release(Ticket ticket)
    {
        List<Ticket> granted;
        lock (_lock)
        {
            if (ticket.Node is { } node)
            {
                _waiting.Remove(node);
                ticket.Node = null;
                return;
            }
            if (!_holding.Remove(ticket)) return;
            ticket.IsGranted = false;
            granted = Admit();
        }
        foreach (var t in granted) t.Granted(t);
    }

    /// <summary>One look at every watched process: an idle or vanished one, or one held too long, frees its slot.</summary>
    public void Check()
    {
        List<Ticket> candidates;
        lock (_lock) candidates = [.. _holding.Where(t => t.Pid is not null)];
        var now = _clock.GetTimestamp();
        var freed = new List<Ticket>();
        foreach (var t in candidates)
        {
            var progress = _progress(t.Pid!.Value);
            bool idle;
            lock (_lock)
            {
                idle = progress is null || progress == t.Seen || _clock.GetElapsedTime(t.HeldSince, now) > MostHeld;
                t.Seen = progress;
            }
            if (idle) freed.Add(t);
        }
        foreach (var t in freed) Release(t);
        lock (_lock)
        {
            if (_timer is not null && !_holding.Any(t => t.Pid is not null))
            {
                _timer.Dispose();
                _timer = null;
            }
        }
    }

    private void Hold(Ticket ticket)
    {
        _holding.Add(ticket);
        ticket.IsGranted = true;
        ticket.HeldSince = _clock.GetTimestamp();
    }

    private List<Ticket> Admit()
    {
        var granted = new List<Ticket>();
        while (_holding.Count < Width && _waiting.First is { } first)
        {
            _waiting.RemoveFirst();
            first.Value.Node = null;
            Hold(first.Value);
            granted.Add(first.Value);
        }
        return granted;
    }
}

/// <summary>
/// What `listen_timeout` means on a machine that is itself the bottleneck: the time an app could not run because every
/// core was busy (it waited in a run queue) is not held against it. When the timeout passes, it is extended by the CPU
/// wait not yet made up for, up to <see cref="MostExtended"/> times the timeout in all; an app that still is not ready
/// after that is not ready.
/// </summary>
public static class ReadinessDeadline
{
    public const int MostExtended = 3;
    private static readonly TimeSpan Least = TimeSpan.FromMilliseconds(50);

    /// <summary>How much longer to wait when the timeout has passed, null when it stands.</summary>
    /// <param name="waitedForCpu">The run-queue wait of the app's main thread since it was spawned.</param>
    /// <param name="extended">What was added so far.</param>
    public static TimeSpan? Extension(TimeSpan listenTimeout, TimeSpan waitedForCpu, TimeSpan extended)
    {
        var room = listenTimeout * MostExtended - extended;
        var owed = waitedForCpu - extended;
        if (owed < Least || room < Least) return null;
        return owed < room ? owed : room;
    }
}
