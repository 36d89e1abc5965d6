namespace NodeKeeper.Daemon.Processes;

/// <summary>
/// What a paused reader of an app's pipe or IPC channel leaves for whoever reads on: a close-on-exec copy of its fd
/// and the bytes it read but has not handed on yet (the start of a line), with a flag of its own (LogPipe: a long line
/// was just cut; IpcReader: a long line is being skipped).
/// </summary>
public sealed record ParkedReader(int Fd, byte[] Carried, bool Flag);

/// <summary>
/// Stops every reader of the apps' pipes and IPC channels at a point where each byte read so far has been handed on
/// (`nk update`): then the fds can go to a new daemon image and no byte is lost or read twice. The readers' threads
/// (<see cref="FdReactor"/>) wait on their fds and on this event together; once it is raised, every reader settles its
/// <see cref="ReaderSlot"/> and the thread waits for <see cref="Release"/> (the update was given up) or for the exec
/// that ends this image.
/// </summary>
public static class ReaderPause
{
    private static readonly Lazy<int> Event = new(Native.CreateEvent);
    private static readonly object Gate = new();
    private static bool _paused;

    /// <summary>The eventfd readers poll beside their own fd.</summary>
    public static int Fd => Event.Value;

    /// <summary>Asks every reader to park.</summary>
    public static void Begin()
    {
        lock (Gate) _paused = true;
        Native.RaiseEvent(Fd);
    }

    /// <summary>Lets every parked reader go on as before.</summary>
    public static void Release()
    {
        lock (Gate)
        {
            _paused = false;
            Native.ClearEvent(Fd);
            Monitor.PulseAll(Gate);
        }
    }

    /// <summary>Blocks a reader's thread that saw the event until <see cref="Release"/>.</summary>
    internal static void Wait()
    {
        lock (Gate)
            while (_paused) Monitor.Wait(Gate);
    }
}

/// <summary>One reader's place in a pause: where it says it has parked (with what it leaves), or that its fd has ended.</summary>
public sealed class ReaderSlot
{
    private readonly Lock _lock = new();
    private TaskCompletionSource<ParkedReader?> _settled = New();
    private bool _ended;

    /// <summary>Before a pause: a fresh wait for this reader (complete at once, with null, when it has ended).</summary>
    public Task<ParkedReader?> Arm()
    {
        lock (_lock)
        {
            _settled = New();
            if (_ended) _settled.TrySetResult(null);
            return _settled.Task;
        }
    }

    /// <summary>The reader has parked: says what it leaves (its thread then waits until the pause is released).</summary>
    public void Settle(ParkedReader parked)
    {
        lock (_lock) _settled.TrySetResult(parked);
    }

    /// <summary>The reader's fd ended (EOF or an error): there is nothing of it to hand on.</summary>
    public void End()
    {
        lock (_lock)
        {
            _ended = true;
            _settled.TrySetResult(null);
        }
    }

    private static TaskCompletionSource<ParkedReader?> New() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
