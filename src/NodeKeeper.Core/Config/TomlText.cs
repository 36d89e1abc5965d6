using System.Globalization;
using System.Text;

namespace NodeKeeper.Core.Config;

/// <summary>
/// How NodeKeeper writes TOML strings and keys, in one place: the nodekeeper.toml nk import prints, and every value a
/// message quotes (<see cref="Text.Quote"/>), so that what a message shows can be pasted back into the config.
/// </summary>
public static class TomlText
{
    /// <summary>
    /// A TOML basic string: quotes, backslashes and control characters (C0, DEL and C1) escaped, so the text holds no
    /// raw terminal escape; a lone surrogate, which UTF-8 cannot carry, becomes U+FFFD.
    /// </summary>
    public static string String(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var sb = new StringBuilder(s.Length + 2).Append('"');
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\t': sb.Append("\\t"); break;
                case '\n': sb.Append("\\n"); break;
                case '\f': sb.Append("\\f"); break;
                case '\r': sb.Append("\\r"); break;
                default:
                    if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) sb.Append(c).Append(s[++i]);
                    else if (char.IsSurrogate(c)) sb.Append('\uFFFD');
                    else if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    /// <summary>Whether <paramref name="key"/> can be written bare.</summary>
    public static bool IsBare(string key) => key.Length > 0 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');

    /// <summary>A TOML key: bare when it can be, a quoted string otherwise.</summary>
    public static string Key(string key) => IsBare(key) ? key : String(key);

    /// <summary>A one-line TOML array of strings.</summary>
    public static string Array(IEnumerable<string> items) => "[" + string.Join(", ", items.Select(String)) + "]";
}
