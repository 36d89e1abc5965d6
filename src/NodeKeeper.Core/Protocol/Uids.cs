using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace NodeKeeper.Core.Protocol;

/// <summary>
/// Who is who, for the daemon and both clients alike: this process's effective uid, a file's owner, and the uid of the
/// process at the other end of a control socket (which only the kernel can tell, so no one can fake it).
/// </summary>
public static partial class Uids
{
    [LibraryImport("libc")]
    private static partial uint geteuid();

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int stat(string path, byte* buf);

    /// <summary>The effective uid of this process.</summary>
    public static uint Effective() => geteuid();

    /// <summary>True when the path's owner (links followed) is this process's effective user.</summary>
    public static bool OwnedBySelf(string path) => Owner(path) is { } uid && uid == geteuid();

    /// <summary>The uid that owns the path (links followed); null when it cannot be read.</summary>
    public static unsafe uint? Owner(string path)
    {
        var buf = stackalloc byte[256];
        if (stat(path, buf) != 0) return null;
        // struct stat: st_uid at offset 28 on x86_64 (st_nlink is 8 bytes there), 24 on aarch64.
        var offset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 28 : 24;
        return *(uint*)(buf + offset);
    }

    /// <summary>The uid of a connected Unix socket's peer (SO_PEERCRED: pid, uid, gid as three int32).</summary>
    public static uint Peer(Socket s)
    {
        Span<byte> cred = stackalloc byte[12];
        s.GetRawSocketOption(1 /*SOL_SOCKET*/, 17 /*SO_PEERCRED*/, cred);
        return BitConverter.ToUInt32(cred[4..8]);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int getsockopt(int fd, int level, int name, byte* value, ref int length);

    /// <summary>The same of a socket held as a bare fd (`nk`'s fast path); null when it cannot be read.</summary>
    public static unsafe uint? Peer(int fd)
    {
        var cred = stackalloc byte[12];
        var length = 12;
        return getsockopt(fd, 1 /*SOL_SOCKET*/, 17 /*SO_PEERCRED*/, cred, ref length) == 0 && length == 12 ? *(uint*)(cred + 4) : null;
    }

    /// <summary>
    /// Why a client must send nothing to the daemon socket it connected to, in one line: the process that listens there
    /// is neither this user nor root, so it is someone else's daemon, or a listener put in its place, that would get
    /// every request (with the env values of `nk start`) and could answer anything. Null when the peer may be trusted.
    /// </summary>
    public static string? UntrustedServer(Socket s, string socketPath) => UntrustedServer(Peer(s), socketPath);

    /// <inheritdoc cref="UntrustedServer(Socket, string)"/>
    public static string? UntrustedServer(uint peer, string socketPath)
    {
        var self = Effective();
        if (peer == self || peer == 0) return null;
        return $"refusing to talk to {socketPath}: it is served by uid {peer}, expected uid {self}{(self == 0 ? "" : " or 0")}; "
            + "nothing was sent, as another user's daemon is never trusted";
    }
}
