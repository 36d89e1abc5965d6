using System.Net.Sockets;

namespace NodeKeeper.Daemon.Processes;

/// <summary>A launched process: its identity, its exit, and its end of the Node IPC channel.</summary>
public sealed class RunningProcess(ProcessId id, Task exited, Task<int> completed, Socket? ipc) : IDisposable
{
    public ProcessId Id { get; } = id;
    public int Pid => Id.Pid;
    /// <summary>Completes when the process itself has exited (its pipes may still be held by descendants).</summary>
    public Task Exited { get; } = exited;
    /// <summary>Completes with the exit code once the process has exited and its output pipes are drained.</summary>
    public Task<int> Completed { get; } = completed;
    /// <summary>The daemon's end of the IPC channel (NODE_CHANNEL_FD), when one was asked for.</summary>
    public Socket? Ipc { get; } = ipc;

    /// <summary>
    /// Closes the daemon's end of the IPC channel, without waiting for its reader (which reads a copy of the fd): the
    /// shutdown ends the reading at the reader's next look, also when a descendant of the app still holds the other end.
    /// </summary>
    public void Dispose()
    {
        if (Ipc is not { } channel) return;
        try { channel.Shutdown(SocketShutdown.Both); }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException) { }
        channel.Dispose();
    }
}
