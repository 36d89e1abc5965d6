using System.Diagnostics;
using System.Net.Sockets;
using CliWrap;

namespace NodeKeeper.Daemon.Processes;

/// <summary>Starts processes through CliWrap, optionally handing them a Node IPC channel on an inherited fd.</summary>
public static class Launcher
{
    /// <summary>Starts the process; throws when it cannot be started (missing binary, bad cwd).</summary>
    public static RunningProcess Start(LaunchSpec spec)
    {
        int parentFd = -1, childFd = -1;
        var env = new Dictionary<string, string?>();
        foreach (var (k, v) in spec.Environment) env[k] = v;
        if (spec.WithIpcChannel)
        {
            (parentFd, childFd) = Native.CreateSocketPair();
            env["NODE_CHANNEL_FD"] = childFd.ToString();
            env["NODE_CHANNEL_SERIALIZATION_MODE"] = "json";
        }

        var command = Cli.Wrap(spec.FileName)
            .WithArguments(spec.Arguments)
            .WithWorkingDirectory(spec.WorkingDirectory)
            .WithEnvironmentVariables(env)
            .WithStandardOutputPipe(PipeTarget.Create((s, ct) => spec.Stdout(Enlarged(s), ct)))
            .WithStandardErrorPipe(PipeTarget.Create((s, ct) => spec.Stderr(Enlarged(s), ct)))
            .WithValidation(CommandResultValidation.None);

        Task? exited = null;
        CommandTask<CommandResult> task;
        try
        {
            // Only this child may inherit the channel's (and the shared socket's) fd: others spawned meanwhile would keep them open.
            lock (OrphanReaper.SpawnLock)
            {
                if (childFd >= 0) Native.SetInheritable(childFd, true);
                if (spec.InheritedFd is { } shared) Native.SetInheritable(shared, true);
                try
                {
                    task = command.ExecuteAsync(null, p =>
                    {
                        OrphanReaper.RegisterLaunched(p.Id);
                        exited = p.WaitForExitAsync();
                    });
                }
                finally
                {
                    if (childFd >= 0) Native.CloseFd(childFd);
                    if (spec.InheritedFd is { } inherited) Native.SetInheritable(inherited, false);
                }
            }
        }
        catch
        {
            if (parentFd >= 0) Native.CloseFd(parentFd);
            throw;
        }

        var pid = task.ProcessId;
        var start = ProcStat.Read(pid)?.StartTime ?? 0;
        var completed = Complete(task, pid);
        Socket? ipc = parentFd >= 0 ? new Socket(new SafeSocketHandle(parentFd, ownsHandle: true)) : null;
        return new RunningProcess(new ProcessId(pid, start), exited ?? completed, completed, ipc);
    }

    /// <summary>
    /// A process an earlier image of this daemon started (`nk update`), with the fds of its output pipes and IPC channel
    /// that image handed on (null: that one had ended). They are made close-on-exec again at once, so that no app
    /// launched later inherits them.
    /// </summary>
    public static RunningProcess Adopt(ProcessId id, int? stdoutFd, int? stderrFd, int? ipcFd,
        Func<Stream, CancellationToken, Task> stdout, Func<Stream, CancellationToken, Task> stderr)
    {
        foreach (var fd in new[] { stdoutFd, stderrFd, ipcFd }) if (fd is { } f) Native.SetInheritable(f, false);
        var status = OrphanReaper.Adopt(id.Pid);
        var pumps = new List<Task>();
        foreach (var (fd, pump) in new[] { (stdoutFd, stdout), (stderrFd, stderr) })
        {
            if (fd is not { } f) continue;
            var stream = new System.IO.Pipes.AnonymousPipeClientStream(System.IO.Pipes.PipeDirection.In, new Microsoft.Win32.SafeHandles.SafePipeHandle(f, ownsHandle: true));
            pumps.Add(PumpThenClose(pump, stream));
        }
        Socket? ipc = ipcFd is { } i ? new Socket(new SafeSocketHandle(i, ownsHandle: true)) : null;
        return new RunningProcess(id, status, AdoptedCompletion(status, pumps), ipc);
    }

    private static async Task PumpThenClose(Func<Stream, CancellationToken, Task> pump, Stream stream)
    {
        await using (stream) await pump(stream, CancellationToken.None).ConfigureAwait(false);
    }

    private static async Task<int> AdoptedCompletion(Task<int> status, List<Task> pumps)
    {
        var code = await status.ConfigureAwait(false);
        await Task.WhenAll(pumps).ConfigureAwait(false);
        return code;
    }

    /// <summary>
    /// A 1 MiB pipe instead of 64 KiB: the app writes with blocking pipes (the preload), so a burst larger than the
    /// pipe would make it wait for the daemon to be scheduled; with room for a burst it never notices the reader.
    /// </summary>
    private static Stream Enlarged(Stream s)
    {
        if (s is System.IO.Pipes.PipeStream pipe)
            Native.SetPipeCapacity((int)pipe.SafePipeHandle.DangerousGetHandle(), PipeCapacity);
        return s;
    }

    public const int PipeCapacity = 1024 * 1024;

    private static async Task<int> Complete(CommandTask<CommandResult> task, int pid)
    {
        try { return (await task).ExitCode; }
        finally { OrphanReaper.ForgetLaunched(pid); }
    }
}
