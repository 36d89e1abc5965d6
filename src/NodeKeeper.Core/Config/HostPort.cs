using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace NodeKeeper.Core.Config;

/// <summary>
/// The "host:port" of [daemon] http and of the daemon's NK_HTTP (the same syntax): a host name, an IPv4 address or
/// a bracketed IPv6 address, then a port from 1 to 65535. Read once here, for the loader and the endpoint.
/// </summary>
public static class HostPort
{
    /// <summary>Splits <paramref name="address"/>; on failure <paramref name="error"/> says why, to follow the setting's name
    /// ("must be \"host:port\", …" or "port must be between 1 and 65535"). The host comes without brackets.</summary>
    public static bool TryParse(string address, out string host, out int port, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(address);
        const string Shape = "must be \"host:port\", such as \"127.0.0.1:9615\"";
        host = "";
        port = 0;
        error = Shape;
        int colon = address.LastIndexOf(':');
        if (colon <= 0 || colon == address.Length - 1) return false;
        var hostPart = address[..colon];
        var portPart = address[(colon + 1)..];
        bool bracketed = hostPart.StartsWith('[');
        bool hostOk = bracketed
            ? hostPart.EndsWith(']') && IPAddress.TryParse(hostPart[1..^1], out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6
            : hostPart.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_');
        if (!hostOk || !portPart.All(char.IsAsciiDigit)) return false;
        if (portPart.Length > 5 || int.Parse(portPart, CultureInfo.InvariantCulture) is < 1 or > 65535)
        {
            error = "port must be between 1 and 65535";
            return false;
        }
        host = bracketed ? hostPart[1..^1] : hostPart;
        port = int.Parse(portPart, CultureInfo.InvariantCulture);
        error = null;
        return true;
    }
}
