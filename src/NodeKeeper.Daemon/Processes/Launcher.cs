using System.Net.Sockets;
using CliWrap;

namespace NodeKeeper.Daemon.Processes;

/// <summary>Starts processes (posix_spawn), optionally handing them a Node IPC channel on an inherited fd.</summary>
public static class Launcher
{
    /// <summary>
    /// Starts the process; throws when it cannot be started (missing binary, bad cwd). It is spawned here, not through
    /// System.Diagnostics.Process: a Process keeps a reader and a writer with their buffers for each redirected stream,
    /// a copy of the whole environment and a registered wait for as long as the child lives, about 25 KiB per app with
    /// hundreds of them. The child's output pipes go to the log readers, its standard input is /dev/null, and its end
    /// is heard on SIGCHLD, as for a child adopted across `nk update`. It leads a session and process group of its own
    /// (the daemon signals the group), set up by posix_spawn itself: no setsid program runs before it.
    /// </summary>
    public static RunningProcess Start(LaunchSpec spec)
    {
        if (DotNetReapsEveryChild) return StartThroughDotNet(spec);
        var env = Environ(spec.Environment);
        var path = ResolveProgram(spec.FileName, spec.WorkingDirectory, env.GetValueOrDefault("PATH"));
        var opened = new List<int>();
        int pid;
        Task<int> status;
        int outRead, errRead, parentFd = -1;
        try
        {
            var stdin = Native.OpenDevNull();
            opened.Add(stdin);
            int outWrite, errWrite;
            (outRead, outWrite) = Native.CreatePipe();
            opened.Add(outRead); opened.Add(outWrite);
            (errRead, errWrite) = Native.CreatePipe();
            opened.Add(errRead); opened.Add(errWrite);
            foreach (var fd in new[] { outRead, errRead }) Native.SetPipeCapacity(fd, PipeCapacity);
            int childFd = -1;
            if (spec.WithIpcChannel)
            {
                (parentFd, childFd) = Native.CreateSocketPair();
                opened.Add(childFd);
                env["NODE_CHANNEL_FD"] = childFd.ToString(System.Globalization.CultureInfo.InvariantCulture);
                env["NODE_CHANNEL_SERIALIZATION_MODE"] = "json";
            }
            // Only this child may inherit the channel's (and the shared socket's) fd: others spawned meanwhile would keep
            // them open. Under the lock the child is also registered before any SIGCHLD handler may reap it.
            lock (OrphanReaper.SpawnLock)
            {
                if (childFd >= 0) Native.SetInheritable(childFd, true);
                if (spec.InheritedFd is { } shared) Native.SetInheritable(shared, true);
                try
                {
                    pid = Native.Spawn(path, [spec.FileName, .. spec.Arguments], [.. env.Select(e => $"{e.Key}={e.Value}")], spec.WorkingDirectory, stdin, outWrite, errWrite);
                }
                finally
                {
                    if (spec.InheritedFd is { } inherited) Native.SetInheritable(inherited, false);
                }
                status = OrphanReaper.Adopt(pid);
            }
        }
        catch
        {
            foreach (var fd in opened) Native.CloseFd(fd);
            if (parentFd >= 0) Native.CloseFd(parentFd);
            throw;
        }
        // The child holds its ends now; the daemon keeps only the read ends and its end of the channel.
        foreach (var fd in opened) if (fd != outRead && fd != errRead) Native.CloseFd(fd);

        var id = new ProcessId(pid, ProcStat.Read(pid)?.StartTime ?? 0);
        return Supervised(id, status, outRead, errRead, parentFd >= 0 ? parentFd : null, spec.Stdout, spec.Stderr);
    }

    /// <summary>
    /// Starts the process through System.Diagnostics.Process (CliWrap), whose exit .NET itself reaps: the way when .NET
    /// reaps every child of the daemon's on SIGCHLD (see <see cref="DotNetReapsEveryChild"/>).
    /// </summary>
    private static RunningProcess StartThroughDotNet(LaunchSpec spec)
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

        // System.Diagnostics.Process cannot make a session: setsid(1) does, and execs the program in place (same pid).
        var command = Cli.Wrap("setsid")
            .WithArguments([spec.FileName, .. spec.Arguments])
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
                        OrphanReaper.RegisterDotNetChild(p.Id);
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
    /// As pid 1 (`nk run` in a container) .NET reaps every child of the process on SIGCHLD (waitpid(-1)), before any
    /// handler of the daemon's runs: the status of a child .NET did not start would be lost. There apps are started
    /// through System.Diagnostics.Process, whose children .NET reaps with their status.
    /// </summary>
    public static readonly bool DotNetReapsEveryChild = Environment.ProcessId == 1;

    private static Stream Enlarged(Stream s)
    {
        if (s is System.IO.Pipes.PipeStream pipe)
            Native.SetPipeCapacity((int)pipe.SafePipeHandle.DangerousGetHandle(), PipeCapacity);
        return s;
    }

    private static async Task<int> Complete(CommandTask<CommandResult> task, int pid)
    {
        try { return (await task).ExitCode; }
        finally { OrphanReaper.ForgetDotNetChild(pid); }
    }

    /// <summary>
    /// The program's full path, found as execvp(3) in the child would find it: a name with a slash relative to the
    /// child's working folder, else the first executable of that name on the child's PATH (<paramref name="searchPath"/>;
    /// glibc's default when it has none).
    /// </summary>
    public static string ResolveProgram(string file, string cwd, string? searchPath)
    {
        if (file.Contains('/')) return Path.GetFullPath(file, cwd);
        foreach (var dir in (searchPath ?? "/bin:/usr/bin").Split(':'))
        {
            // An empty entry is the working folder, as for execvp.
            var candidate = Path.GetFullPath(Path.Combine(dir.Length == 0 ? "." : dir, file), cwd);
            if (Native.IsExecutableFile(candidate)) return candidate;
        }
        throw new System.ComponentModel.Win32Exception(2, $"cannot start {file}: not found on PATH");
    }

    /// <summary>The daemon's environment with the instance's changes (a null value removes a variable).</summary>
    private static Dictionary<string, string> Environ(IReadOnlyDictionary<string, string?> changes)
    {
        var merged = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            if (e.Key is string k && e.Value is string v) merged[k] = v;
        foreach (var (k, v) in changes)
            if (v is null) merged.Remove(k);
            else merged[k] = v;
        return merged;
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
        return Supervised(id, OrphanReaper.Adopt(id.Pid), stdoutFd, stderrFd, ipcFd, stdout, stderr);
    }

    /// <summary>
    /// A child whose end <paramref name="status"/> tells (OrphanReaper): its output pipes pumped (each read end closed
    /// once drained; null: none) and the daemon's end of its IPC channel. It is complete once it has exited and both
    /// pipes are drained.
    /// </summary>
    private static RunningProcess Supervised(ProcessId id, Task<int> status, int? stdoutFd, int? stderrFd, int? ipcFd,
        Func<Stream, CancellationToken, Task> stdout, Func<Stream, CancellationToken, Task> stderr)
    {
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
    public const int PipeCapacity = 1024 * 1024;
}
