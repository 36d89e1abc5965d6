using System.ComponentModel;
using System.Runtime.InteropServices;

namespace NodeKeeper.Daemon.Processes;

/// <summary>
/// posix_spawn(3): how the daemon starts an app. glibc clones with CLONE_VFORK and execs at once, so nothing runs in the
/// child between the two but the file actions and the signal settings asked for here; an error of the exec (a missing
/// program, a missing working folder) comes back as posix_spawn's result.
/// </summary>
public static partial class Native
{
    private const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08, POSIX_SPAWN_SETSID = 0x80;
    private const int O_RDONLY_CLOEXEC = 0x80000, O_CLOEXEC = 0x80000;

    // glibc's posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336 on x86-64 and arm64; sigset_t 128.
    private const int FileActionsSize = 256, AttrSize = 512, SigSetSize = 128;

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawn(int* pid, byte* path, byte* fileActions, byte* attr, byte** argv, byte** envp);

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawn_file_actions_init(byte* fileActions);

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawn_file_actions_destroy(byte* fileActions);

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawn_file_actions_adddup2(byte* fileActions, int fd, int newFd);

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawn_file_actions_addchdir_np(byte* fileActions, byte* path);

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawnattr_init(byte* attr);

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawnattr_destroy(byte* attr);

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawnattr_setflags(byte* attr, short flags);

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawnattr_setsigmask(byte* attr, byte* set);

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawnattr_setsigdefault(byte* attr, byte* set);

    [LibraryImport("libc")]
    private static unsafe partial int sigemptyset(byte* set);

    [LibraryImport("libc")]
    private static unsafe partial int sigfillset(byte* set);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int pipe2(int* fds, int flags);

    [LibraryImport("libc")]
    private static unsafe partial int sigaction(int sig, byte* act, byte* oldact);

    [LibraryImport("libc")]
    private static partial nint signal(int sig, nint handler);

    /// <summary>
    /// A daemon started with SIGCHLD ignored (a parent's choice, kept across exec) would have .NET reap every child on
    /// SIGCHLD (waitpid(-1)), and the apps' exit statuses would be lost: SIGCHLD goes back to its default first thing.
    /// </summary>
    public static unsafe void UnignoreSigchld()
    {
        const int SIGCHLD = 17;
        var old = stackalloc byte[256];
        if (sigaction(SIGCHLD, null, old) == 0 && *(nint*)old == 1 /*SIG_IGN*/) signal(SIGCHLD, 0 /*SIG_DFL*/);
    }

    /// <summary>A pipe, both ends close-on-exec: (read end, write end).</summary>
    public static unsafe (int Read, int Write) CreatePipe()
    {
        var fds = stackalloc int[2];
        if (pipe2(fds, O_CLOEXEC) != 0) throw new IOException($"pipe2 failed: {Marshal.GetLastPInvokeErrorMessage()}");
        return (fds[0], fds[1]);
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int access(string path, int mode);

    /// <summary>Whether path is a regular file this process may execute.</summary>
    public static bool IsExecutableFile(string path) => IsRegularFile(path) && access(path, 1 /*X_OK*/) == 0;

    /// <summary>/dev/null opened for reading, close-on-exec: an app's standard input.</summary>
    public static int OpenDevNull()
    {
        var fd = open("/dev/null", O_RDONLY_CLOEXEC);
        if (fd < 0) throw new IOException($"cannot open /dev/null: {Marshal.GetLastPInvokeErrorMessage()}");
        return fd;
    }

    /// <summary>
    /// Starts <paramref name="path"/> (a full path) with argv and envp, in <paramref name="cwd"/>, its standard input,
    /// output and error on the given fds, every signal at its default disposition and none blocked (the daemon's
    /// runtime ignores SIGPIPE and blocks some; an exec keeps both), in a session (and process group) of its own, led
    /// by it (setsid(2), done by glibc in the child before the exec). Every other fd of the daemon stays behind unless
    /// it was made inheritable. Throws <see cref="Win32Exception"/> with the reason when it cannot start.
    /// </summary>
    public static unsafe int Spawn(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp, string cwd, int stdin, int stdout, int stderr)
    {
        var strings = new List<IntPtr>(argv.Count + envp.Count + 2);
        byte* actions = stackalloc byte[FileActionsSize];
        byte* attr = stackalloc byte[AttrSize];
        byte* mask = stackalloc byte[SigSetSize];
        byte* defaults = stackalloc byte[SigSetSize];
        var args = new IntPtr[argv.Count + 1];
        var vars = new IntPtr[envp.Count + 1];
        byte* Utf8(string s)
        {
            var p = Marshal.StringToCoTaskMemUTF8(s);
            strings.Add(p);
            return (byte*)p;
        }
        posix_spawn_file_actions_init(actions);
        posix_spawnattr_init(attr);
        try
        {
            for (var i = 0; i < argv.Count; i++) args[i] = (IntPtr)Utf8(argv[i]);
            for (var i = 0; i < envp.Count; i++) vars[i] = (IntPtr)Utf8(envp[i]);
            Check(posix_spawn_file_actions_adddup2(actions, stdin, 0), "dup2");
            Check(posix_spawn_file_actions_adddup2(actions, stdout, 1), "dup2");
            Check(posix_spawn_file_actions_adddup2(actions, stderr, 2), "dup2");
            Check(posix_spawn_file_actions_addchdir_np(actions, Utf8(cwd)), "chdir");
            sigemptyset(mask);
            sigfillset(defaults);
            Check(posix_spawnattr_setsigmask(attr, mask), "sigmask");
            Check(posix_spawnattr_setsigdefault(attr, defaults), "sigdefault");
            Check(posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID), "flags");
            int pid;
            fixed (IntPtr* a = args, v = vars)
            {
                var error = posix_spawn(&pid, Utf8(path), actions, attr, (byte**)a, (byte**)v);
                if (error != 0) throw new Win32Exception(error, $"cannot start {path} in {cwd}: {new Win32Exception(error).Message}");
            }
            return pid;
        }
        finally
        {
            posix_spawnattr_destroy(attr);
            posix_spawn_file_actions_destroy(actions);
            foreach (var p in strings) Marshal.FreeCoTaskMem(p);
        }

        static void Check(int error, string what)
        {
            if (error != 0) throw new Win32Exception(error, $"posix_spawn {what}: {new Win32Exception(error).Message}");
        }
    }
}
