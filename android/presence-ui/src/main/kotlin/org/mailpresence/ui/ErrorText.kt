// The core's errors in words a field worker can act on: what happened and
// what to do, in Japanese and English; and the outbox, which fills while
// nothing can be sent.
package org.mailpresence.ui

import org.mailpresence.PresenceException

object ErrorText {
    fun of(e: PresenceException, lang: Lang): String = when (lang) {
        Lang.JA -> when (e) {
            is PresenceException.SignInAgain -> "会社のアカウントへのサインインが切れました。もう一度サインインしてください。送信は保留されています。"
            is PresenceException.WrongPassword -> "メールサーバーにログインできません。ユーザー名とパスワードを確認してください。"
            is PresenceException.Unreachable -> "メールサーバーに接続できません。電波の良い場所で再度お試しください。送信は保留されています。"
            is PresenceException.Certificate -> "メールサーバーの証明書を信頼できません。端末の日時が正しいか確認し、会社の CA 証明書が必要な場合はアカウント画面で設定してください。解決しない場合は管理者にお問い合わせください。"
            is PresenceException.InvalidInput -> "入力内容を確認してください。"
            is PresenceException.Storage -> "端末の保存領域に書き込めません。"
            is PresenceException.Protocol -> "メールサーバーとの通信でエラーが発生しました。"
        }
        Lang.EN -> when (e) {
            is PresenceException.SignInAgain -> "Your sign-in to the company account has ended. Please sign in again; your changes wait until then."
            is PresenceException.WrongPassword -> "The mail server refused the login. Check the user name and password."
            is PresenceException.Unreachable -> "The mail server cannot be reached. Your changes wait and go out when the network is back."
            is PresenceException.Certificate -> "The mail server's certificate is not trusted. Check the phone's date and time; if your company uses its own CA, set its certificate on the Account screen. Otherwise ask your administrator."
            is PresenceException.InvalidInput -> "Please check what you entered."
            is PresenceException.Storage -> "The phone's storage cannot be written."
            is PresenceException.Protocol -> "The mail server answered with an error."
        }
    }

    /** From this many mails waiting, the outbox counts as full: nothing has
     *  gone out for a while, and the worker should know why. */
    const val OUTBOX_FULL: UInt = 20u

    fun outboxFull(depth: UInt): Boolean = depth >= OUTBOX_FULL

    /** The mails waiting to be sent, in words (null when none wait); a full
     *  outbox says what to do. */
    fun outbox(depth: UInt, lang: Lang): String? = when {
        depth == 0u -> null
        outboxFull(depth) -> if (lang == Lang.JA) {
            "送信待ちのメールが${depth}件たまっています。しばらく送信できていません。電波の良い場所でアプリを開いてください。続く場合はアカウント画面の「接続テスト」で原因を確認してください。"
        } else {
            "$depth mails are waiting: nothing has gone out for a while. Open the app where the network is good; if it goes on, use Test connection on the Account screen to see why."
        }
        lang == Lang.JA -> "送信待ち ${depth}件"
        else -> "$depth waiting to be sent"
    }
}
