// The two languages of the app's text. Everything a person reads comes from
// here or from the core; nothing in the screens is hard-wired.
package org.mailpresence.ui

enum class Lang { JA, EN;
    companion object {
        /** The app's language for a locale tag such as "ja-JP" or "en-GB". */
        fun of(localeTag: String): Lang = if (localeTag.lowercase().startsWith("ja")) JA else EN
    }
    val code: String get() = if (this == JA) "ja" else "en"
}
