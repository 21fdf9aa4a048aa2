// The core's errors in words a field worker can act on.
package org.mailpresence.ui

import org.mailpresence.PresenceException

object ErrorText {
    fun of(e: PresenceException, lang: Lang): String = when (lang) {
        Lang.JA -> when (e) {
            is PresenceException.SignInAgain -> "会社のアカウントへのサインインが切れました。もう一度サインインしてください。送信は保留されています。"
            is PresenceException.WrongPassword -> "メールサーバーにログインできません。ユーザー名とパスワードを確認してください。"
            is PresenceException.Unreachable -> "メールサーバーに接続できません。電波の良い場所で再度お試しください。送信は保留されています。"
            is PresenceException.Certificate -> "メールサーバーの証明書を信頼できません。管理者にお問い合わせください。"
            is PresenceException.InvalidInput -> "入力内容を確認してください。"
            is PresenceException.Storage -> "端末の保存領域に書き込めません。"
            is PresenceException.Protocol -> "メールサーバーとの通信でエラーが発生しました。"
        }
        Lang.EN -> when (e) {
            is PresenceException.SignInAgain -> "Your sign-in to the company account has ended. Please sign in again; your changes wait until then."
            is PresenceException.WrongPassword -> "The mail server refused the login. Check the user name and password."
            is PresenceException.Unreachable -> "The mail server cannot be reached. Your changes wait and go out when the network is back."
            is PresenceException.Certificate -> "The mail server's certificate is not trusted. Ask your administrator."
            is PresenceException.InvalidInput -> "Please check what you entered."
            is PresenceException.Storage -> "The phone's storage cannot be written."
            is PresenceException.Protocol -> "The mail server answered with an error."
        }
    }
}
