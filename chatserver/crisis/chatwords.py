"""How often words turn up in everyday chat, so that the pattern index anchors each pattern on the
required word ordinary messages hold least (an anchor found costs a look at its patterns).

`seen(anchors)` counts, over the everyday and figurative lines of the corpus and the training lines
(`tests/data/crisis`, `tests/data/crisis_train`; never the held-out set), the lines holding one of
the anchors: a whole word, or for a stem a word starting with it. Only a ranking: a word missing
here is taken as rare, and a wrong count costs speed, never a finding (any required word is a sound
anchor). Regenerate after the training lines change: `python -m chatserver.crisis.chatwords`.
"""

from __future__ import annotations

import json
import re
import sys
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path

#: Words seen in fewer lines are left out (as rare).
AT_LEAST = 3
_BEGIN, _END = "# counts: begin\n", "# counts: end\n"

# counts: begin
_DATA = (
    "0:8 1:14 10:22 12:15 13:3 18:14 2:18 20:18 2025:7 24:3 2am:3 3:53 30:11 38:4 3am:5 3h:3 4:21 40:10 "
    "4h:3 5:28 5-0:4 6:14 7:5 8:18 8h:3 90:10 92:3 a:938 ab:8 abend:6 aber:28 abiamo:8 about:43 abroad:4 "
    "absolutely:5 abuela:8 abuelo:6 aburimiento:3 aca:4 acabar:5 acabei:3 acabou:7 academia:5 achete:4 "
    "acheve:8 acident:3 acordo:4 acount:5 actualy:16 ad:9 adeso:5 adeus:3 adieu:6 adio:5 adios:3 adulta:3 "
    "af:11 afscheid:7 after:41 again:67 ages:4 ago:4 agora:14 aguanto:7 aguento:10 ahah:33 ahahah:4 "
    "ahora:9 ai:142 aide:8 ainda:4 aiuta:3 aiuto:4 ajuda:4 ajudando:3 ajudou:4 aku:5 al:165 ala:28 "
    "alarm:6 alcohol:4 ale:27 alein:3 alemal:16 alen:8 alenamento:3 aler:5 alergia:3 ales:30 algo:8 "
    "alguem:28 alguien:26 alguma:4 alivio:4 alma:4 alone:7 already:5 als:42 alte:3 alten:10 altijd:5 "
    "alto:4 altra:5 altro:4 always:6 am:35 amanha:21 amaza:12 amazato:5 amazing:6 amazo:9 amica:3 amiga:5 "
    "amigos:3 an:90 anche:6 ancora:7 and:121 andando:3 andata:9 anders:8 andiamo:6 ane:4 anestesiada:4 "
    "anfitria:5 anfitriao:4 angst:10 ani:9 animatrice:5 aniversaire:3 aniversario:8 aniversary:3 ano:31 "
    "anos:16 another:7 anoying:4 ans:18 ansia:5 ansiedad:5 ansiedade:6 antena:7 antene:4 antes:14 "
    "antibiotico:3 antidepresants:3 antidepresiva:3 antidepresivo:7 anxiety:10 anxious:3 any:7 anymore:7 "
    "anyone:50 anyones:4 anything:5 ao:7 aos:5 ap:16 apart:5 apartamento:4 apele:3 apointment:4 apoio:3 "
    "apothek:8 apotheke:7 apres:14 aqui:24 arbeit:12 are:59 arete:3 ariva:3 arive:4 arivo:4 arm:3 "
    "around:9 arts:3 arzt:4 as:37 ashes:3 asi:3 ask:3 asking:8 aslep:3 aspetare:5 aspeto:6 at:123 "
    "atack:11 ataque:3 ate:19 atende:3 atends:7 atrasada:3 atrasado:3 au:48 auch:6 audio:3 auf:53 "
    "aufgegeben:3 aufs:3 augmente:3 aujourd:41 aujourdhui:41 aula:10 aumentato:3 aus:28 ausi:3 auto:14 "
    "autre:3 aux:7 avais:5 avait:3 avant:10 avanti:3 avec:33 averlo:4 aveva:4 avevo:3 avez:4 avo:15 "
    "avoir:10 away:22 awful:6 ayer:8 ayuda:6 baby:11 back:42 bad:10 bag:4 bagno:3 bahnhof:4 baixo:9 "
    "baja:3 bajon:3 bajoneada:3 bake:4 balcon:4 balcony:4 bald:3 balkon:4 ban:4 banco:3 band:5 bang:3 "
    "bank:11 bas:9 basta:3 bateria:16 baterie:5 baterij:3 batery:6 bath:4 baustele:3 be:47 beach:6 bebe:6 "
    "beber:3 because:6 bed:22 bedankt:5 before:25 begrafenis:4 bei:15 beim:21 being:6 bela:4 bele:7 "
    "belisima:5 belo:4 bem:24 ben:109 bene:20 benisimo:3 bent:7 berdigung:5 bereit:3 beser:8 besoin:6 "
    "best:10 beste:4 bet:7 beter:28 beu:3 bici:3 bien:48 big:7 biglieto:3 bij:30 bijna:9 bike:3 bil:3 "
    "bimbi:3 bin:96 binari:3 binge:3 birthday:8 bis:14 bit:23 blod:7 blunt:5 boa:10 bock:5 boda:6 boden:4 "
    "body:4 boek:6 boite:4 bok:8 boked:7 bolo:4 bom:12 bon:4 bone:11 bonjour:4 bora:4 bord:4 bored:4 "
    "bos:37 bought:10 boulot:14 bouquin:3 bout:3 boxes:3 brain:10 brauch:3 breathing:5 bridge:23 brief:8 "
    "bring:6 bringen:4 bringt:29 broke:7 brother:12 brucke:10 brug:10 brule:6 brutal:6 buch:5 bucher:3 "
    "buenas:8 bueno:5 buenos:3 building:4 bunge:5 buonanote:7 buongiorno:3 burden:8 buren:3 burger:5 "
    "burned:4 bury:5 bus:29 buscar:3 but:64 buto:10 by:22 bye:10 c:43 ca:56 cabeca:6 cabelo:6 cabeza:4 "
    "cachet:3 cachets:5 cachoro:8 cada:7 cafe:21 cafeine:3 caixa:3 cake:6 cal:12 calculo:3 caldo:14 "
    "caled:6 calor:26 cama:8 came:8 caminar:3 caminhar:3 can:29 canal:3 canape:3 canceled:5 cancer:9 "
    "cancion:7 candle:3 cane:10 cansaco:4 cansada:14 cansei:3 cant:24 canzone:7 capeli:5 capo:8 car:22 "
    "cara:4 card:3 care:6 carga:3 caritas:4 caro:11 carta:14 cartas:3 cartons:3 casa:39 casamento:5 "
    "casi:10 cat:14 causa:3 cause:3 cayo:4 ce:86 cebola:6 cedo:6 celu:3 celular:18 cena:3 centro:3 "
    "cest:32 cet:5 cetait:4 cete:37 chaleur:5 chanson:6 chaque:3 character:7 charger:3 charity:6 chat:23 "
    "chau:3 chaud:4 che:65 check:3 checking:3 chef:8 chefe:13 chegar:4 cheguei:5 cheia:3 chest:3 "
    "cheveux:3 chez:12 chi:3 chiamato:3 chien:8 childhod:3 chiste:3 chiuso:4 chocolate:6 choping:5 "
    "chorei:8 christmas:13 chu:9 chuva:5 ci:17 ciao:6 cicatrices:4 cidade:4 cima:5 cipola:3 cita:5 "
    "citalopram:8 clas:4 clase:5 clean:3 clear:5 clif:6 clifhanger:6 clima:5 closed:5 clothes:9 club:6 "
    "cmq:3 coast:3 cochilo:3 code:7 cofe:15 coisa:7 coisas:4 coking:4 col:11 cold:8 colega:5 colegas:4 "
    "colege:3 colegues:3 coloquio:3 colpo:3 com:77 comboio:4 come:22 coment:4 comentario:3 comer:4 "
    "comercial:3 comes:5 comigo:10 coming:3 comio:3 como:22 compartirlo:3 compile:3 compleano:3 "
    "comprato:5 compre:4 comprei:13 comprimido:3 comprimidos:5 compte:4 comute:7 con:96 condiviso:3 "
    "conseils:3 consigli:4 consulta:3 conta:6 contente:4 conto:3 coracao:4 corda:6 cortando:3 corte:9 "
    "cortei:7 corto:3 cosa:8 cosas:3 cosi:8 cote:4 could:26 counselor:5 coup:3 coupant:4 coupe:10 cours:7 "
    "cousin:4 cousins:5 covid:5 crawl:4 creve:9 crever:3 criancas:3 cried:6 crime:7 cringe:3 crise:11 "
    "crisis:4 crocs:7 cruel:5 cry:7 crying:11 cuando:14 cuanto:3 cuantos:3 cuchilo:3 cuenta:4 cumple:3 "
    "curiosidade:3 curo:5 cut:21 cuting:5 cv:3 d:70 da:134 dach:6 dad:21 dads:6 dag:16 dagen:6 dai:3 "
    "dak:5 dal:22 dala:14 dale:3 dan:16 dank:8 danke:16 dans:37 dar:5 dark:7 das:81 dat:48 data:4 date:15 "
    "dato:5 daumen:4 davoir:3 day:55 days:14 de:854 dead:56 deadline:4 death:23 deceased:8 decede:3 "
    "decided:3 decidi:4 decision:9 declutering:3 dedo:6 dei:12 deixa:4 deixei:7 deja:4 deje:4 dejo:6 "
    "del:79 dela:27 deleted:5 deleting:3 delt:3 dem:32 demain:15 demenage:4 demenagement:5 demora:3 "
    "den:56 denkt:5 dentista:4 dentro:6 denui:3 denvie:4 depois:11 depresao:6 depresie:6 depresion:30 "
    "depresione:7 depuis:10 der:106 dernier:16 derniere:3 derubou:3 des:36 desa:6 desaparecer:4 "
    "desastre:3 descansen:3 desde:5 dese:3 desespere:3 despedi:11 despedindo:3 despido:4 despues:12 "
    "destroyed:8 destrozo:4 deto:4 detox:3 detre:3 deu:7 deuil:4 deuk:3 deux:7 devant:3 devo:5 deze:31 "
    "di:152 dia:53 dias:21 dica:3 dice:15 dich:6 dicht:3 did:11 didn:5 didnt:9 die:234 died:43 dies:4 "
    "diese:13 diesem:3 diesen:5 dieses:4 diet:6 dieta:5 dificil:12 dificile:4 dijo:3 dimanche:3 "
    "dimenticato:3 diner:10 dinheiro:3 dir:5 dire:4 dis:3 disapear:11 disapearing:3 dise:4 disparaitre:10 "
    "distruta:9 distruto:5 dit:38 dito:4 divano:3 do:112 doacao:3 doando:4 doc:3 doctor:12 docu:4 dod:88 "
    "dodelijk:3 dodgegan:3 doe:4 doei:7 doen:6 does:15 doesn:5 doesnt:7 dog:18 doigt:3 doing:9 dois:5 "
    "dolor:3 domani:17 domenica:4 domingo:4 don:19 donde:5 done:51 doner:3 dont:23 dopo:14 dor:16 "
    "dormano:3 dormi:7 dormir:36 dormire:8 dormito:3 dos:13 dose:14 dosis:16 doucement:3 dove:4 down:25 "
    "drama:4 dreh:3 drei:5 dres:4 drie:6 drink:5 driving:5 drowning:7 du:42 duas:3 dubel:4 due:10 duelo:4 "
    "duermo:3 dun:4 dur:6 dura:5 durch:7 dure:3 during:3 dying:33 e:217 early:6 eat:3 echt:24 ecoute:4 "
    "ecris:3 ecrit:7 ein:30 eind:5 eindbas:3 einde:4 eindelijk:12 eine:18 einem:4 einen:3 einer:4 "
    "einfach:9 einmal:4 el:176 ela:6 ele:30 elke:6 else:16 eltern:5 em:31 email:10 emails:5 embarasment:6 "
    "emojieyerol:10 emojilaugh:75 emojiskul:32 emotional:4 emprego:7 en:321 encontro:3 encore:28 end:30 "
    "ende:7 ending:8 endlich:13 endroit:3 enfants:3 enfin:13 enough:3 enquanto:3 entends:3 entera:3 "
    "enterar:3 enterement:4 entero:3 entrevista:8 enui:3 envie:13 envoye:3 episode:7 er:23 era:11 eran:4 "
    "erasmus:3 ereichbar:3 erhoht:4 ero:8 erschiesen:3 erste:12 ersten:4 eruit:3 ervaring:4 es:42 esa:46 "
    "esame:9 esami:6 esay:3 escitalopram:3 esco:3 escolhi:3 escrevi:5 escribi:5 escrito:3 escuchar:3 "
    "ese:57 esen:5 esere:3 espera:3 esperanca:4 esperando:18 esperanza:4 espero:3 esqueci:5 est:98 "
    "esta:72 estaba:5 estacion:3 estamos:4 estan:7 estar:7 estas:3 este:38 estou:24 estoy:77 estudar:4 "
    "estudiar:3 estuvo:4 et:32 etais:5 etait:14 ete:4 eten:3 etre:5 eu:38 euch:9 eulogy:4 even:12 "
    "evening:6 ever:6 every:13 everyone:39 everything:25 everythings:4 ex:7 exam:19 examen:13 examenes:5 "
    "exams:11 exausta:4 excel:8 excited:3 exercise:4 exercises:3 exhausted:5 exhausting:4 extrano:5 fa:11 "
    "face:4 facendo:3 facio:6 facu:3 faculdade:5 fai:3 faili:6 faim:3 faire:5 fais:5 fait:30 fal:3 "
    "falaises:3 falar:4 faleceu:7 falecio:3 falta:9 fame:3 famiglia:3 famile:5 familia:7 family:4 far:3 "
    "fare:6 farmacia:20 farmaco:4 farta:3 fast:9 fatal:6 fatigue:10 fato:20 faut:5 faxina:3 faz:12 "
    "fazendo:3 fazer:6 feira:5 fel:40 feling:25 feliz:5 fels:10 felt:4 fenetre:4 fenster:5 feriado:5 "
    "ferias:6 ferie:4 ferme:4 fertig:20 fery:4 fest:6 festa:14 fet:9 fete:4 feu:3 few:5 fez:5 fica:5 "
    "ficar:3 fico:3 ficou:5 fiera:3 fiere:5 fiesta:5 fight:6 figlio:4 fijn:3 fila:8 file:3 filho:5 "
    "film:54 filme:11 fim:6 fin:18 final:24 finale:13 finalmente:21 finaly:28 find:5 finde:7 finds:4 "
    "fine:22 finestra:4 finger:8 fini:5 finir:3 finish:3 finished:12 finita:3 fiquei:6 fire:3 first:25 "
    "fitnes:3 fitnestudio:3 fiume:3 fix:5 fixing:4 fiz:9 flat:6 flatmate:4 flor:3 flowers:3 fluoxetina:6 "
    "fluoxetine:4 focar:3 focus:3 fod:4 foi:20 fois:7 fome:4 for:252 forever:6 forgot:6 forte:4 fot:3 "
    "foto:8 fotos:4 fre:6 fredo:4 friday:10 fried:3 friend:12 friends:6 frio:8 from:30 fruher:4 fue:11 "
    "fuerte:3 fuhl:9 fui:23 fuimos:3 ful:3 funciona:6 funeral:18 funerale:6 funziona:3 fur:48 fuse:3 "
    "future:5 futuro:9 ga:43 galera:3 gambe:3 game:7 gan:11 ganas:8 ganz:3 ganze:7 ganzen:3 gare:4 gat:21 "
    "gata:3 gato:19 gave:19 gebucht:3 gedan:3 gef:7 gegen:4 gegesen:5 geh:9 gehad:4 gehen:5 geholfen:3 "
    "geht:8 gehts:13 gehuild:3 gek:6 gekauft:5 gekilt:5 gekocht:6 gekundigt:3 gelaufen:4 geld:5 geleden:5 "
    "gelopen:4 gemacht:14 gemakt:5 gen:8 genial:3 genomen:21 gente:32 gern:3 gesagt:4 geschaft:3 "
    "geschenkt:3 geschickt:3 geschlafen:3 geschniten:7 geschreven:5 geschrieben:8 gesehen:5 geslapen:3 "
    "geslopt:8 gespert:3 gestern:9 gestorben:29 get:17 geting:9 geweint:4 gewest:3 gewon:6 geworden:3 "
    "gia:4 gimnasio:3 ging:14 gioco:4 giornata:10 giorni:4 giorno:13 gisteren:8 giu:6 give:7 giving:19 "
    "gleich:3 gleis:3 gli:12 go:23 god:26 godbye:23 godnight:4 goed:24 going:97 gona:19 gone:4 gorgeous:5 "
    "got:46 gp:10 grab:7 gracias:16 grad:13 gran:3 grand:17 grand-mere:9 grand-pere:4 grandad:9 "
    "grandads:5 grande:7 grandma:9 grapig:4 grateful:4 graus:4 grave:12 grazie:18 great:6 grey:4 grief:9 "
    "grieving:3 gripe:3 gris:4 groep:10 grond:4 group:24 groupe:15 grown:3 grupe:8 grupo:51 guardare:4 "
    "guera:3 guitar:3 gut:21 gute:9 guten:3 gym:16 ha:69 hab:139 haben:11 hace:14 hacen:3 hacer:3 "
    "haciendo:4 had:31 haha:36 hair:12 halfway:3 halo:3 hambre:3 hamster:7 hand:7 handy:13 hang:5 "
    "hanging:7 hano:10 hapens:3 hapy:7 har:10 hard:16 hardest:3 hare:4 harta:4 has:13 hasta:7 hat:63 "
    "hate:15 hauptfigur:4 haus:4 hausarzt:3 haut:4 have:39 having:8 hay:4 he:36 head:8 headache:5 "
    "heading:6 health:6 hear:7 heart:10 heat:8 heavy:4 heb:31 heben:8 heft:29 hel:7 hele:7 helemal:3 "
    "help:16 helped:8 helping:3 helpline:5 helps:5 helpt:3 hem:7 her:31 here:25 hermana:6 hes:10 het:139 "
    "heure:5 heut:19 heute:58 hi:6 hice:8 hier:39 hij:10 hike:4 hil:4 hilft:5 him:14 hin:3 his:11 hit:3 "
    "hite:11 hitze:9 hiver:3 hj:4 ho:122 hochzeit:4 hoe:10 hofdperson:4 hofdpijn:4 hofnungslos:3 hoje:78 "
    "hola:3 hole:4 holiday:13 home:17 homework:7 hond:8 honestly:16 honger:4 honte:6 hop:3 hope:6 "
    "hopeles:5 hopelos:3 hopital:3 hor:5 hora:6 horas:10 horivel:5 horor:5 hororfilm:4 hospital:18 "
    "host:14 hot:4 hotel:7 hour:6 hours:14 house:10 how:21 hoy:58 hui:41 huis:8 huisarts:8 hund:8 "
    "hundemude:3 hung:3 i:556 ich:218 ici:9 id:23 iederen:4 iemand:16 ieri:7 iets:7 if:59 ihn:6 ihr:12 "
    "ihren:3 ik:296 il:205 ils:3 im:295 imer:6 in:376 in-laws:3 inbox:3 increible:3 indo:7 infarto:3 "
    "infos:3 ins:7 inside:3 insonia:3 insta:3 instagram:14 intercambio:3 internet:4 interview:3 into:22 "
    "inverno:4 invisible:3 ir:6 irma:8 is:322 isnt:4 iso:5 ist:78 isto:3 it:150 itl:3 its:61 ive:27 j:174 "
    "ja:30 jahr:7 jahren:5 jai:130 jaja:26 jajaja:9 jajajaja:3 jantar:3 january:3 japan:4 jar:14 jarive:3 "
    "jatends:7 javais:5 je:276 jecris:3 jeden:4 jefe:12 jemand:9 jen:8 jentends:3 jetais:5 jete:5 "
    "jetzt:16 jeu:4 jij:3 jk:4 job:37 jogar:5 jogo:11 joke:5 jour:10 journe:11 jours:10 juego:4 julie:20 "
    "jump:8 jumped:3 jumping:6 june:4 jusqu:5 jusqua:4 just:59 juste:5 k:53 kafe:6 kan:21 kapot:20 "
    "kaput:4 karaoke:3 kat:7 katze:5 kein:3 keine:5 keinen:6 kep:10 keps:4 ker:13 kick:3 kids:18 kijken:6 "
    "kil:39 kiled:25 kiler:5 kiling:47 kilt:3 kind:5 kinderen:3 kitchen:5 klamoten:6 klar:11 klausur:3 "
    "kleren:5 klifen:3 kms:19 kne:3 knie:3 knife:8 knipen:3 knocked:3 know:22 kofie:4 kom:5 komt:10 "
    "kont:8 konte:3 kopfweh:3 krankenhaus:3 krieg:3 kringlop:4 kuchen:3 l:126 la:497 laburo:3 lac:4 "
    "lach:4 lachen:10 lag:6 lago:5 laise:3 lake:3 lalenamento:3 lang:6 lange:3 langeweile:3 langsam:6 "
    "langzam:4 lano:3 laptop:17 las:48 lasciato:5 lascio:4 lasen:5 last:63 lat:4 late:16 lately:3 laten:6 "
    "later:6 latste:13 lauft:4 laughed:3 laughing:9 laundry:3 lavori:3 lavoro:23 lawai:3 laws:3 le:258 "
    "leave:4 leaving:6 lecture:6 leds:3 left:11 leftovers:5 leg:6 legendo:3 lego:7 legs:7 leker:6 lendo:5 "
    "lenterement:4 ler:7 lernen:3 les:71 lesame:5 let:6 leter:12 letera:7 leters:5 leto:7 letre:6 "
    "letzte:8 letzter:6 letztes:3 leute:5 leve:5 levei:4 level:5 levo:5 lezione:3 lhopital:3 libre:4 "
    "libro:12 lie:5 lieb:3 lieben:3 lieber:3 lied:5 liedje:3 lief:3 liegt:3 liever:4 life:10 lift:3 lig:6 "
    "lighter:3 ligt:4 like:29 linda:8 lindo:5 line:5 lis:4 lisboa:5 lista:3 listening:3 listo:3 lit:5 "
    "literaly:21 lithium:3 live:6 livre:4 livro:9 lmao:8 lo:37 loads:3 lok:3 loking:5 lol:109 lonely:5 "
    "long:9 lore:5 los:35 lose:4 losing:4 lost:10 lot:6 love:7 lovely:7 low:8 luck:7 lugar:10 lui:6 "
    "lunch:6 lundi:11 lunedi:10 lunes:13 luto:10 lying:3 m:244 ma:127 mach:7 machen:4 machina:8 macht:7 "
    "made:17 madre:16 madrid:3 mae:18 magnifique:4 mail:13 main:7 maintenant:4 mais:63 maison:5 mak:8 "
    "make:10 maken:8 makes:11 making:3 makt:15 mal:38 male:6 mama:19 maman:3 man:9 manager:3 manana:27 "
    "manca:7 manchmal:4 mand:7 mandag:8 mandato:3 mande:4 mandei:5 mando:4 mandou:3 mange:6 mangiato:3 "
    "manha:8 mano:4 manque:5 many:9 mar:29 march:4 marche:5 marco:3 mare:10 mariage:7 marie:3 mart:3 "
    "marzo:5 mas:55 masacre:6 mata:38 matado:4 matando:26 matar:46 mataria:5 match:6 mate:13 matei:8 "
    "matematica:4 matenme:3 mates:3 maths:10 matin:10 matina:5 matine:3 mato:14 matou:9 matrimonio:5 "
    "mdr:26 me:840 meal:3 medecin:9 medica:4 medicacion:7 medicijnen:6 medicine:12 medico:28 medis:4 "
    "meditation:3 medo:7 medocs:8 meds:29 meglio:10 mehr:18 meileure:3 mein:60 meine:64 meinem:12 "
    "meinen:18 meiner:17 meio:7 mejor:13 melatonin:4 melatonina:6 melatonine:5 melhor:9 meme:21 memes:3 "
    "memoire:5 memories:3 mensen:4 mental:5 mentre:5 mer:18 mercado:3 merci:14 mere:22 mes:55 mesage:8 "
    "mese:8 mesmo:3 meso:4 met:41 meting:20 metro:7 meu:90 meurs:16 meurt:3 meus:14 mezelf:7 mezo:3 mg:7 "
    "mi:303 mia:51 mich:118 mid:4 mie:6 miedo:5 miei:9 mientras:3 mieux:10 mijn:164 mil:3 mim:4 mine:3 "
    "minha:83 minhas:11 mins:4 minuten:5 minutes:5 minuti:3 minutos:5 mio:53 mir:33 mis:36 misery:3 "
    "mistake:3 mit:29 miten:3 mn:27 mod:3 moderador:3 moderadora:9 moderator:14 moderatore:3 "
    "moderatorin:6 moderatrice:9 moe:5 moeder:11 moest:3 moet:10 moi:27 mois:7 molto:4 moment:5 mon:102 "
    "monat:7 monday:12 mondays:4 monde:11 money:4 mont:4 montag:10 monte:3 month:13 months:8 moral:3 "
    "morar:3 morden:7 more:28 morendo:34 morer:23 moreu:24 morgen:40 mori:31 morir:13 morire:28 "
    "morning:20 moro:7 mort:36 morta:47 morte:32 morti:3 morto:29 motivo:3 motorway:3 mourir:24 move:11 "
    "moved:5 movil:3 moving:14 much:13 mucho:7 mudanca:4 mudanza:4 mudar:5 mude:10 mudo:8 muere:3 "
    "muero:35 muerta:18 muerte:5 muerto:6 muita:3 muito:17 mum:33 mums:11 mundo:7 muoio:23 muore:4 "
    "murder:11 murdered:5 muriendo:5 murieron:3 murio:19 mus:8 musica:8 muste:5 muter:10 muy:9 my:622 "
    "myself:24 n:32 na:70 nach:19 nachrichten:4 nachste:6 nacht:15 nachtdienst:3 nada:17 nadie:3 name:3 "
    "nan:10 nao:34 nap:5 nar:39 nas:4 natal:5 natale:3 ne:24 nearly:14 necesito:6 ned:33 neded:3 nehmen:3 "
    "neighbour:3 neighbours:3 nel:19 nem:10 nemen:5 nen:13 nephew:5 ner:5 nervous:7 nesa:4 nese:10 "
    "nesuno:3 netflix:10 neu:5 neuen:7 neues:3 never:10 new:48 news:4 next:19 nice:7 nicht:27 niente:7 "
    "niet:35 nieuw:5 nieuwe:4 nieuws:3 nieuwsgierigheid:3 night:39 nights:5 niks:6 nimt:5 ninguem:5 "
    "nique:3 nix:3 no:176 nobody:9 noch:28 noche:19 noches:9 nochmal:5 nog:22 noite:17 non:39 nona:9 "
    "nono:9 normal:16 normale:3 nos:9 not:17 note:6 notebok:3 nothing:6 notice:6 notre:3 nouveau:6 "
    "nouvele:4 nova:8 novela:8 novo:26 now:55 nu:17 nueva:6 nuevo:5 nuit:11 nul:4 nule:3 num:5 numb:3 "
    "numbers:3 numeros:5 nuova:6 nuovo:18 nur:11 nurse:3 o:152 oben:5 obra:4 obras:4 obrigada:12 "
    "obrigado:3 ochtend:3 of:192 ofice:7 ofline:11 ogi:51 ogni:5 oh:3 ohne:12 oignons:3 ok:36 okay:5 "
    "oke:3 ola:3 old:31 om:35 oma:14 on:189 onde:4 one:39 onibus:7 onions:5 ons:4 ont:7 ontem:11 onze:3 "
    "op:75 opa:14 or:5 ora:10 oral:4 ordi:3 ore:6 orgulho:4 orgulosa:5 os:18 ospedale:3 otimo:3 otra:23 "
    "otro:5 ou:11 oublie:5 ouch:4 oud:3 oude:12 ouders:3 our:7 out:55 outra:4 oven:4 over:33 overdosed:6 "
    "overled:4 overleden:6 packed:3 padre:6 pai:8 pain:3 pais:5 pale:3 palestra:6 pane:7 panic:8 panico:5 "
    "papa:16 par:22 para:53 paracetamol:6 parada:3 parenting:3 parents:14 parfois:4 park:7 parked:3 "
    "parking:5 parlato:4 parle:5 parole:3 pars:3 part:12 parte:5 parti:3 partiel:3 partir:3 partiu:3 "
    "party:21 pas:37 pasa:5 pasada:3 pasado:7 pase:10 pased:12 pasegiata:3 pasei:3 paser:3 paso:5 pasou:5 "
    "past:5 pastiglia:5 pastiglie:6 pastila:4 pastilas:13 pastilero:3 paura:5 pausa:3 pause:5 peace:3 "
    "peau:5 peli:11 pelo:9 pendant:7 pensa:3 pensando:3 pense:3 people:7 per:100 perche:4 perdi:6 "
    "perdon:4 perdu:4 pere:11 pero:33 perso:8 person:7 persona:6 personagem:5 persone:6 perto:4 pes:3 "
    "pesa:3 pesada:11 pesado:5 pesante:6 peso:7 peu:4 peur:7 pezi:3 pflanzen:4 pharmacie:7 pharmacy:8 "
    "phone:22 photos:4 piano:9 pianta:3 piante:4 pianto:6 picando:4 pick:3 picked:4 picnic:4 piedi:6 "
    "pieds:5 pies:3 pil:7 pilen:9 pileta:3 pils:13 pilulier:3 pin:3 pineaple:4 pique:3 pique-nique:3 "
    "piscina:4 piso:6 piu:24 piutosto:3 piza:44 place:8 plan:27 planing:3 plano:5 plant:8 planta:5 "
    "plantao:3 plantas:9 plante:3 planten:4 plantes:4 plants:8 plat:3 plate:3 playa:4 playlist:11 "
    "please:3 plein:3 pleure:7 pls:4 plus:30 plutot:3 po:6 poco:11 poi:3 point:7 pont:12 ponte:31 ponto:3 "
    "por:97 portapilole:3 portato:3 porte:3 porto:3 portugal:3 poso:8 post:13 posto:5 pote:3 pouco:4 "
    "poucos:4 pour:82 pq:6 pqp:3 pra:97 prachtig:3 praia:8 prasentation:3 preciso:13 prefiro:3 premier:4 "
    "prende:4 prendere:4 prendo:5 prends:4 prenez:3 prenotato:3 pres:3 presao:3 prescription:5 "
    "presentatie:3 presentation:10 preso:15 presto:5 presure:5 pret:4 prete:6 prima:11 primeira:3 "
    "primeiro:3 primera:5 primo:9 printer:9 pris:13 privately:3 privato:3 prix:3 pro:27 problema:4 "
    "prochaine:5 prof:12 profe:4 project:6 pronta:9 pronto:8 proper:5 proprio:3 prosima:4 prosimo:3 "
    "protagonista:9 protest:3 proud:5 prova:12 provas:5 proxima:4 prufung:7 prufungen:3 psichiatra:4 "
    "psicologa:27 psiquiatra:8 psy:14 psychiater:6 psychiatre:3 psychiatrist:4 psycholog:7 puedo:5 "
    "puente:11 pular:6 put:11 q:36 qn:6 qu:6 qualche:4 qualcosa:3 qualcuno:17 quand:13 quando:29 quanti:3 "
    "quanto:6 quase:13 quasi:8 que:210 queimei:4 quel:11 quela:7 quele:3 quelqu:9 quelques:5 quelqun:9 "
    "quem:6 quer:7 querer:3 queria:9 quero:14 quest:3 questa:25 questo:30 quetiapina:3 queue:6 qui:22 "
    "quiere:5 quiero:14 quiet:5 quit:3 quite:3 quoi:3 rain:6 ram:3 ran:7 ranked:6 rate:4 rather:8 rato:4 "
    "razor:4 rdv:4 re:23 reading:5 ready:13 realy:15 receita:4 receta:3 recuerdos:3 redes:5 regalato:6 "
    "regale:6 regalo:11 regarde:3 regarder:4 regen:3 remedio:24 remedios:9 remember:5 reparer:3 repeat:4 "
    "repond:3 reseaux:3 reserve:3 respirazione:3 respire:4 results:5 retard:6 retourner:3 reuniao:8 "
    "reunion:9 reviens:3 revoir:11 rezept:3 ri:3 riceta:6 ridere:9 rien:7 right:8 ring:3 rio:7 rip:17 "
    "rir:14 rire:14 risa:11 risponde:3 ritardo:7 riunione:7 river:4 rn:4 road:3 rof:12 rom:9 roma:3 "
    "roman:4 ropa:9 rope:10 roto:4 rough:6 roupa:3 roupas:6 rouw:4 ruido:3 run:3 runing:6 s:130 sa:6 "
    "sabado:6 sabato:3 sabe:7 sac:3 sad:11 safe:3 safety:3 sagt:7 sai:4 said:25 sair:7 sais:4 sale:8 "
    "salgo:3 salio:4 salir:3 salut:4 salutato:5 saluto:3 salva:3 same:3 sans:10 sao:3 sat:4 saturday:5 "
    "saudade:12 saude:4 saving:4 saw:8 say:8 saying:10 says:11 scared:6 scars:3 scary:3 scatered:3 "
    "scene:6 scham:6 schamte:6 schau:5 schiet:4 schlafen:9 schlim:4 schol:13 schon:23 schoner:3 "
    "schonouders:3 schref:4 schreib:3 schrijf:3 schrok:3 schwer:5 schwester:5 schwiegereltern:3 scorso:5 "
    "scriptie:4 scrito:9 scusate:3 se:156 sea:7 seance:6 season:8 seduta:3 segunda:13 seguranca:3 sehen:3 "
    "sehr:3 sei:6 sein:9 seit:11 sel:3 selbstmord:3 self:6 sem:18 semaine:23 semaines:4 semana:57 "
    "semanas:4 semestre:4 sempre:15 send:7 sending:3 sens:11 sent:6 senti:4 sentir:4 sento:12 senza:9 "
    "separei:4 ser:11 sera:8 serai:4 serial:3 serie:27 series:5 serio:3 serious:4 sertralina:13 "
    "sertraline:14 serve:4 ses:12 sesion:4 sest:8 set:7 setimana:23 seul:4 seule:3 sharing:4 she:34 "
    "shes:5 shift:17 shop:7 short:4 shot:13 should:5 show:6 si:55 siamo:5 sich:7 sie:18 sieht:6 siempre:3 "
    "siento:12 signal:3 sin:16 since:11 sind:12 single:3 sinto:13 sister:15 sit:5 siting:5 sitz:4 six:3 "
    "skiped:3 slap:7 slapen:9 slaps:3 slayed:3 slecht:3 slep:33 sleping:7 slept:7 slepy:4 slow:4 "
    "slowly:10 smal:9 snacks:4 snijden:5 so:176 sobre:12 sobrino:3 social:5 soeur:6 sofa:11 sogra:3 "
    "sohn:3 soir:19 soire:8 sol:9 sola:10 soleil:3 solo:15 sombre:3 some:12 someone:9 something:3 "
    "sometimes:5 soms:4 son:17 sone:3 song:14 sono:142 sont:9 sopa:4 soporto:6 sorela:6 sorted:3 "
    "sorting:4 sory:13 sou:5 soul:4 sous:9 soy:4 sozinha:5 space:3 spar:4 sparire:6 sparisco:3 spat:4 "
    "spater:5 spel:3 speranza:4 spiel:3 sport:9 sportschol:3 spreadshet:5 spring:11 springen:5 sta:24 "
    "stage:3 stagione:4 stairs:3 stamatina:4 stanca:6 stano:5 start:7 started:5 stasera:16 stat:5 stata:4 "
    "station:9 stato:7 staying:5 stazione:3 steh:6 stelt:3 sterb:6 sterbe:15 sterben:10 sterf:9 steso:3 "
    "stil:11 stirbt:3 sto:43 stockpiling:3 stolz:5 stop:8 strugling:5 stuck:6 stuf:5 stufa:4 stunden:5 "
    "su:5 subimos:4 subio:3 such:7 suegros:3 sueno:10 sugar:3 sugested:3 suicida:3 suicidando:3 "
    "suicide:17 suicidio:7 suis:79 sul:30 sula:4 sule:3 sumir:15 sun:3 sunday:6 sundays:3 sunset:3 "
    "suoceri:3 super:11 suport:3 suporte:4 suprime:4 sur:36 surprise:3 sus:4 suspense:6 susto:7 sveglia:5 "
    "swalow:3 swear:3 swing:3 switching:3 t:61 ta:56 tabele:3 tableten:15 tablets:6 taf:7 tag:20 tage:9 "
    "tagliata:6 tagliato:3 take:18 takes:4 taking:6 tal:3 talk:6 talking:4 tan:7 tanta:3 tante:5 tanto:8 "
    "tao:15 tarde:15 tardi:3 tato:6 tava:5 tax:3 tbh:4 tc:3 tchau:5 te:64 tea:9 teacher:8 team:6 techo:4 "
    "tedio:3 tegen:7 teilst:3 tel:12 telefon:9 telefono:14 telefonselsorge:3 telement:7 telephone:5 "
    "telhado:5 tem:10 tempo:18 temporada:6 temprano:3 temps:10 tengo:18 tenho:7 tenia:5 tentamen:6 "
    "tentamens:5 ter:5 teraco:3 terapeuta:4 terapia:41 tere:4 terible:3 terminar:5 termine:4 teror:5 "
    "terug:8 tesi:3 tesis:4 test:10 testa:3 testament:6 testamento:6 tete:4 teto:8 text:5 than:13 "
    "thank:10 thanks:14 that:118 thats:7 the:571 their:4 them:13 then:4 therapeut:3 therapeutin:7 "
    "therapie:24 therapist:15 therapy:12 there:9 these:4 they:13 theyre:4 thing:6 things:6 think:6 "
    "thinking:3 third:4 this:201 thoughts:5 thre:4 thread:5 through:20 throw:5 throwing:3 ti:7 tia:4 "
    "ticket:4 tickets:4 tiempo:6 tiene:8 tiera:4 tijd:6 tiktok:3 til:8 time:46 times:3 tinha:4 tio:5 "
    "tip:3 tips:16 tired:23 tiro:13 tive:5 to:510 toast:3 tod:4 toda:13 todas:3 today:102 tode:4 todler:3 "
    "todmude:3 todo:33 todos:26 toen:7 toit:7 tok:20 told:3 toma:7 tomando:5 tomar:10 tombe:3 tomber:3 "
    "tome:10 tomei:16 tomo:6 tomorow:34 ton:3 tonight:30 tonights:3 top:13 tore:5 torno:4 torta:3 tot:38 "
    "total:7 totlachen:3 tour:3 tous:8 tout:29 toute:7 touw:3 tower:4 trabajo:10 trabalhar:5 trabalho:14 "
    "tracks:3 trafic:7 trafico:8 train:20 training:6 trains:4 traitement:8 trajet:3 tram:3 trampo:8 "
    "tranquila:3 transito:7 trasloco:8 trauer:4 traurig:7 travaux:4 traverse:3 tre:9 trein:9 trem:4 "
    "tren:6 treno:7 tres:20 tried:6 trilha:3 trip:6 triste:27 tristeza:4 trois:6 trop:24 tropo:5 trots:4 "
    "truc:3 true:5 trying:9 tschus:4 tu:15 tudo:24 tue:32 tuent:3 tuer:24 tuerais:4 tuez:3 turno:5 tuta:6 "
    "tuti:20 tuto:19 tv:4 twe:7 two:13 uber:11 ucide:10 ucidendo:6 uciderei:4 ucidetemi:3 uciso:7 ugh:9 "
    "uhr:4 uien:4 uit:16 ultima:20 ultimo:27 um:114 uma:48 umgebracht:3 umzug:7 un:209 una:76 unalive:3 "
    "unaltra:5 und:57 under:5 une:47 uni:11 unico:3 universita:4 uno:5 unos:4 uns:10 unser:3 up:54 uped:4 "
    "ur:15 urlaub:9 us:6 use:3 used:7 uso:5 ustedes:3 va:61 vacaciones:9 vacances:9 vacanze:5 vader:6 "
    "vado:20 vai:28 vais:30 vakantie:7 vamos:14 van:87 vanavond:9 vandag:49 vanochtend:5 vao:3 varal:3 "
    "vc:5 vcs:6 ve:30 veces:9 vechi:6 vechio:3 vecina:3 vecino:3 vedere:4 vedo:3 vel:5 vela:4 velhas:3 "
    "velorio:3 vem:10 vemos:3 vendo:6 vendredi:3 vent:3 ventana:3 vento:3 veo:5 ver:23 vera:3 "
    "verabschiede:3 verabschiedet:5 verbrant:3 verdad:4 verdrietig:7 verdwijnen:3 vergadering:5 "
    "vergesen:6 vergeten:5 vergogna:4 vergonha:10 verguenza:10 verhogd:3 verhuis:3 verhuizing:4 "
    "verloren:3 vermis:4 vermord:5 vermordt:7 verschwinden:3 versinken:3 very:3 vestido:4 vestiti:9 "
    "vetements:6 veterinario:5 veut:5 veux:8 vez:31 vezes:8 vi:15 via:5 viagem:3 viagio:3 viajar:3 "
    "viaje:4 vicina:3 vicini:3 vicino:6 vida:8 video:17 vieja:7 viejos:4 viel:10 viele:3 viendo:3 "
    "viene:10 vient:3 vieux:8 vinden:4 vinger:4 visiting:5 vista:5 visto:7 vita:5 vitoria:3 vizinha:3 "
    "vizinho:5 vo:9 voce:4 voces:11 voel:11 voglia:5 voglio:13 voi:8 voir:6 vois:4 voisin:3 voisins:3 "
    "voiture:6 vol:11 volgende:8 volta:8 voltar:7 volte:8 voltei:3 volto:4 volver:4 vom:15 von:28 vont:4 "
    "vontade:8 vor:90 vorbei:3 vorei:4 vorlesung:3 vou:81 vous:23 voy:35 voyage:3 vroeger:3 vu:3 vue:4 "
    "vuelvo:9 vuole:4 wacht:4 wachten:5 wait:6 waiting:15 waker:4 waking:3 walet:3 walk:8 walked:8 "
    "walking:8 wana:3 want:46 wants:8 war:56 wardrobe:3 waren:6 wart:6 was:117 washing:8 wat:18 watch:5 "
    "watched:6 watching:6 water:8 waves:4 way:10 we:61 wear:5 weather:6 weding:13 weg:20 wegegeven:3 "
    "wegen:10 weird:5 weis:3 wek:85 wek-end:4 weken:3 wekend:39 weks:10 wel:14 welcome:4 welkom:3 "
    "welterusten:5 wen:25 went:18 wer:38 werd:3 were:14 werk:13 wet:4 weter:3 what:18 whats:6 whatsap:3 "
    "when:36 where:12 while:6 who:11 whole:8 why:9 wie:27 wieder:26 wifi:20 wil:59 wilkomen:3 window:6 "
    "winter:8 wir:20 wird:8 wish:12 with:102 without:6 wo:6 woche:22 wochen:5 wochenende:8 wohnung:5 "
    "won:9 wont:12 word:6 worden:7 wordt:7 woried:3 work:29 working:5 works:3 world:5 worse:4 wou:3 "
    "would:10 writen:3 writing:10 wrong:4 wrote:13 wurd:7 wurde:5 x:7 xanax:3 xq:3 y:54 ya:25 year:16 "
    "years:15 yesterday:8 yo:5 you:61 your:12 youre:4 yourselves:4 zag:5 zat:6 ze:17 zeg:4 zegt:7 zeit:7 "
    "zeland:3 zelfmord:4 zerstort:3 zia:3 zie:3 zieh:5 ziek:3 ziekenhuis:3 zien:3 ziet:4 zijn:23 zio:3 "
    "zit:7 zo:30 zoals:3 zombie:3 zon:5 zonder:9 zou:7 zovel:5 zu:35 zug:6 zum:27 zur:6 zuruck:4 zus:5 "
    "zusamen:7 zwar:7 zware:4 zwei:9 "
)
# counts: end

COUNTS: dict[str, int] = {k: int(n) for k, n in (item.split(":") for item in _DATA.split())}
_SORTED = sorted(COUNTS)


@cache
def _starting(stem: str) -> int:
    total = 0
    for key in _SORTED[bisect_left(_SORTED, stem) :]:
        if not key.startswith(stem):
            break
        total += COUNTS[key]
    return total


def seen(anchors: Iterable[tuple[str, bool]]) -> int:
    """About how many everyday lines hold one of `anchors` ((key, whole word?) pairs)."""
    return sum(COUNTS.get(key, 0) if whole else _starting(key) for key, whole in anchors)


def count(data: Path) -> Counter[str]:
    """Lines of everyday and figurative talk in `data`'s corpus and training files per word key."""
    from chatserver.crisis import index as ix
    from chatserver.crisis.patterns import collapse
    from chatserver.crisis.text import plain

    counts: Counter[str] = Counter()
    for path in sorted([*(data / "crisis").glob("*.jsonl"), *(data / "crisis_train").glob("*.jsonl")]):
        for row in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(row) if row.strip() else {}
            if item.get("category") in ("everyday", "figurative"):
                keys: set[str] = set()
                for typed in plain(item["text"]).split():
                    word = typed.strip(ix._EDGES)
                    keys.update(collapse(p) for p in {word.replace("'", ""), *ix._INSIDE.split(word)} if p)
                counts.update(keys)
    return counts


def main() -> None:
    """Rewrite this module's counts from tests/data."""
    here = Path(__file__)
    counts = count(here.resolve().parents[2] / "tests" / "data")
    items = [f"{k}:{n}" for k, n in sorted(counts.items()) if n >= AT_LEAST and re.fullmatch(r"\S+", k)]
    lines, line = [], ""
    for item in items:
        if len(line) + len(item) > 100:
            lines.append(line)
            line = ""
        line += item + " "
    lines.append(line)
    body = "_DATA = (\n" + "".join(f'    "{chunk}"\n' for chunk in lines) + ")\n"
    text = here.read_text(encoding="utf-8")
    start, end = text.index(_BEGIN) + len(_BEGIN), text.index(_END)
    here.write_text(text[:start] + body + text[end:], encoding="utf-8")
    print(f"{len(items)} words", file=sys.stderr)


if __name__ == "__main__":
    main()
